package attacktest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestHardening2_9_unknownIDsAreAggregated: 300 anonymous failed logins for
// made-up account IDs write a row when the minute opens and one that sums
// up the rest (when serve stops), not a row each (5,000 rows in 17 s from
// one client on main); an "ID" shaped like a secret (32 hex digits, which
// parse as a UUID) is recorded as "(not an API key ID)", never echoed, by
// serve and by the login command.
func TestHardening2_9_unknownIDsAreAggregated(t *testing.T) {
	store := backendtest.SQLiteStore(t)
	admin := newAdmin()
	dir := t.TempDir()
	s := startServe(t, dir, adminEnv(admin), "--store", store)
	if s.URL == "" {
		t.Fatalf("serve did not start: %s", s.log())
	}
	c := from("127.0.0.1")
	hexSecret := hex.EncodeToString([]byte(rand.Text())[:16]) // openssl rand -hex 16
	for _, id := range []string{hexSecret, "{" + uuid.NewString() + "}", "urn:uuid:" + uuid.NewString()} {
		if code, body := call(t, c, "POST", s.URL+"/v1/login", nil, loginBody(id, "wrong")); code != 401 {
			t.Fatalf("login with ID %q: %d %s", id, code, body)
		}
	}
	for range 300 {
		if code, body := call(t, c, "POST", s.URL+"/v1/login", nil, loginBody(uuid.NewString(), "wrong")); code != 401 {
			t.Fatalf("login with an unknown ID: %d %s", code, body)
		}
	}
	s.stop()
	r := run(t, dir, nil, "wrong\n", "login", "--store", store, "--key-id", hexSecret, "--secret-stdin")
	if r.code == 0 {
		t.Fatal("login with a made-up ID succeeded")
	}

	rows, summed := 0, false
	for _, e := range audit(t, store) {
		if strings.Contains(e.TargetID+e.Detail, hexSecret) {
			t.Errorf("the audit log echoes an ID shaped like a secret: %+v", e)
		}
		if e.Action == "login.failure" {
			rows++
			summed = summed || strings.Contains(e.Detail, "302 more failed logins for unknown API key IDs")
		}
	}
	// serve: the first (a secret's shape), the sum at stop; login: one.
	if rows != 3 || !summed {
		t.Errorf("%d login.failure rows (sum written: %v), want 3: the first, the sum of the other 302, the login command's", rows, summed)
	}
}

// TestHardening2_9_uniformAdminSecretRefused: an admin secret of 32 spaces
// (or a few characters repeated) is as long as the rule asks and no secret:
// serve refuses to start, saying why, without echoing it.
func TestHardening2_9_uniformAdminSecretRefused(t *testing.T) {
	for _, secret := range []string{strings.Repeat(" ", 32), strings.Repeat("ab", 20)} {
		s := startServe(t, "", []string{"APPHOST_ADMIN_KEY_ID=" + uuid.NewString(), "APPHOST_ADMIN_KEY_SECRET=" + secret},
			"--store", backendtest.SQLiteStore(t))
		s.exited(t)
		if s.URL != "" || s.code != 2 || !strings.Contains(s.log(), "different characters") || strings.Contains(s.log(), secret) {
			t.Errorf("serve with the admin secret %q: exit %d, stderr %s", secret, s.code, s.log())
		}
	}
}

// TestHardening2_10_generatedAdminSecret: the admin secret serve generates
// has the ahk_ prefix of every other secret (secret scanners know it), and
// its creation is audited as serve's doing, not Terraform's.
func TestHardening2_10_generatedAdminSecret(t *testing.T) {
	store := backendtest.SQLiteStore(t)
	s := startServe(t, "", nil, "--store", store)
	if s.URL == "" {
		t.Fatalf("serve did not start: %s", s.log())
	}
	// The one display comes right after the listening line.
	var admin backendtest.Admin
	for deadline := time.Now().Add(10 * time.Second); admin.Secret == "" && time.Now().Before(deadline); {
		for line := range strings.Lines(s.out()) {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "APPHOST_API_KEY_ID="); ok {
				admin.ID = v
			}
			if v, ok := strings.CutPrefix(line, "APPHOST_API_KEY_SECRET="); ok {
				admin.Secret = v
			}
		}
		time.Sleep(10 * time.Millisecond) // polling the output for the display, bounded by the deadline
	}
	if !strings.HasPrefix(admin.Secret, "ahk_") || len(admin.Secret) != len("ahk_")+43 {
		t.Errorf("generated admin secret of %d characters, prefix %q: want ahk_ and 43 characters", len(admin.Secret), admin.Secret[:min(4, len(admin.Secret))])
	}
	if code, body := call(t, from("127.0.0.1"), "GET", s.URL+"/v1/accounts", &admin, ""); code != 200 {
		t.Fatalf("the generated admin: %d %s", code, body)
	}
	s.stop()
	for _, e := range audit(t, store) {
		if e.Action == "api_key_account.create" && e.TargetID == admin.ID && e.Actor != "serve" {
			t.Errorf("the admin's creation is audited as %q, want serve", e.Actor)
		}
	}
	if n := count(audit(t, store), "api_key_account.create", admin.ID); n != 1 {
		t.Errorf("%d api_key_account.create events for the admin, want 1", n)
	}
}

// TestHardening2_5_lastAdminKeepsASecret: regenerating the last admin with
// expose_secret false answered 200 and nobody had the new secret (only
// recover-admin helped); it is refused (409) as the last admin's deletion
// is, and the admin's secret still works.
func TestHardening2_5_lastAdminKeepsASecret(t *testing.T) {
	store := backendtest.SQLiteStore(t)
	admin := newAdmin()
	s := startServe(t, "", adminEnv(admin), "--store", store)
	if s.URL == "" {
		t.Fatalf("serve did not start: %s", s.log())
	}
	c := from("127.0.0.1")
	code, body := call(t, c, "POST", s.URL+"/v1/accounts/"+admin.ID+"/regenerate", &admin, `{"expose_secret":false}`)
	if code != 409 || !strings.Contains(body, "last admin") || !strings.Contains(body, "expose_secret = true") {
		t.Errorf("regenerate of the last admin with expose_secret false: %d %s, want 409 saying why", code, body)
	}
	if code, body := call(t, c, "GET", s.URL+"/v1/accounts", &admin, ""); code != 200 {
		t.Fatalf("the admin after the refused regenerate: %d %s", code, body)
	}
	code, body = call(t, c, "POST", s.URL+"/v1/accounts/"+admin.ID+"/regenerate", &admin, `{"expose_secret":true}`)
	if code != 200 || !strings.Contains(body, `"secret":"ahk_`) {
		t.Errorf("regenerate of the last admin with expose_secret true: %d %.100s", code, body)
	}
}

// TestHardening2_9_riskySetupsWarned: serve warns (and still starts) when
// --trusted-proxy trusts every address (any client could pick its throttle
// address) and when the store or its key file may be read by other users;
// a proxy's own range and 0600 files give no warning.
func TestHardening2_9_riskySetupsWarned(t *testing.T) {
	dir := t.TempDir()
	db := dir + "/apphost.db"
	store := "sqlite:" + db
	admin := newAdmin()
	warnings := func(s *server) []string {
		var out []string
		for line := range strings.Lines(s.log()) {
			if strings.Contains(line, `"level":"WARN"`) {
				out = append(out, line)
			}
		}
		return out
	}
	s := startServe(t, "", adminEnv(admin), "--store", store, "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "fc00::/7")
	if s.URL == "" {
		t.Fatalf("serve did not start: %s", s.log())
	}
	s.stop()
	if w := warnings(s); len(w) != 0 {
		t.Errorf("warnings for a proxy range and 0600 files:\n%s", strings.Join(w, ""))
	}

	for _, f := range []string{db, db + ".key"} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, all := range []string{"0.0.0.0/0", "::/0"} {
		s = startServe(t, "", adminEnv(admin), "--store", store, "--trusted-proxy", all)
		if s.URL == "" {
			t.Fatalf("serve did not start: %s", s.log())
		}
		s.stop()
		w := strings.Join(warnings(s), "")
		for _, want := range []string{"--trusted-proxy " + all, db + " has mode 0644", db + ".key has mode 0644", "chmod 600"} {
			if !strings.Contains(w, want) {
				t.Errorf("no warning with %q; warnings:\n%s", want, w)
			}
		}
	}
}
