package attacktest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

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
