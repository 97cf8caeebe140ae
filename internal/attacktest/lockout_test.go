package attacktest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestFinding1_noGuessingPastTheThrottle: a short admin secret from the
// environment is refused; past the burst, the right secret gets the same 429
// as a wrong one, so 200 guesses with the right one among them learn
// nothing, and the audit log holds only the burst's failures.
func TestFinding1_noGuessingPastTheThrottle(t *testing.T) {
	store := backendtest.SQLiteStore(t)

	short := startServe(t, "", []string{"APPHOST_ADMIN_KEY_ID=" + newAdmin().ID, "APPHOST_ADMIN_KEY_SECRET=7391"}, "--store", store)
	short.exited(t)
	if short.URL != "" || short.code != 2 || !strings.Contains(short.log(), "at least 32") {
		t.Fatalf("serve with a 4-character admin secret: exit %d, stderr %s", short.code, short.log())
	}

	admin := newAdmin()
	s := startServe(t, "", adminEnv(admin), "--store", store)
	c := from("127.0.0.1")
	for i := range 3 {
		wrong := backendtest.Admin{ID: admin.ID, Secret: strings.Repeat("x", 40) + string(rune('a'+i))}
		if code, body := call(t, c, "GET", s.URL+"/v1/accounts", &wrong, ""); code != 401 {
			t.Fatalf("wrong guess %d: %d %s", i, code, body)
		}
	}
	for i := range 200 {
		guess := backendtest.Admin{ID: admin.ID, Secret: strings.Repeat("y", 40) + string(rune('a'+i%26))}
		if i == 137 {
			guess = admin // the right secret, somewhere among the guesses
		}
		code, body := call(t, c, "GET", s.URL+"/v1/accounts", &guess, "")
		if code != 429 || errorCode(body) != "rate_limited" {
			t.Fatalf("guess %d past the burst (right secret: %v): %d %s", i, i == 137, code, body)
		}
	}
	evs := audit(t, store)
	if n := count(evs, "login.failure", admin.ID); n != 3 {
		t.Errorf("%d login.failure events, want 3 (throttled guesses are not checked)", n)
	}
	if n := count(evs, "login.success", admin.ID); n != 0 {
		t.Errorf("%d login.success events: a throttled right secret was checked", n)
	}
	if a := accounts(t, store)[admin.ID]; a.Locked || a.FailedLoginAttempts != 0 {
		t.Errorf("admin after the attack: %+v, want unlocked and nothing counted", a)
	}
	// The owner, from another address, is not affected.
	if code, body := call(t, from("127.0.0.3"), "GET", s.URL+"/v1/accounts", &admin, ""); code != 200 {
		t.Fatalf("the admin from another address: %d %s", code, body)
	}
}

// TestFinding2_anonymousCannotLockOut: wrong guesses from two addresses at
// the admin (Basic auth) and at an app's key (POST /v1/login) lock neither;
// the last admin cannot be deleted; an admin locked by counted logins (the
// login command) comes back with recover-admin, audited, on both stores.
func TestFinding2_anonymousCannotLockOut(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			admin := newAdmin()
			keyDir := t.TempDir()
			keyFile := filepath.Join(keyDir, "apphost.key")
			s := startServe(t, "", adminEnv(admin), "--store", store, "--key-file", keyFile)
			if s.URL == "" {
				t.Fatalf("serve did not start: %s", s.log())
			}
			owner := from("127.0.0.9")
			code, body := call(t, owner, "POST", s.URL+"/v1/accounts", &admin, `{"name":"app-key"}`)
			if code != 201 {
				t.Fatalf("create: %d %s", code, body)
			}
			var k struct{ ID, Secret string }
			_ = json.Unmarshal([]byte(body), &k)

			wrongAdmin := backendtest.Admin{ID: admin.ID, Secret: strings.Repeat("z", 43)}
			for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
				c := from(ip)
				for range 8 {
					call(t, c, "GET", s.URL+"/v1/accounts", &wrongAdmin, "")
					call(t, c, "POST", s.URL+"/v1/login", nil, loginBody(k.ID, "wrong"))
				}
			}
			inv := accounts(t, store)
			for _, id := range []string{admin.ID, k.ID} {
				if a := inv[id]; a.Locked || a.FailedLoginAttempts != 0 {
					t.Errorf("%s after 16 wrong guesses from two addresses: %+v, want unlocked and nothing counted", a.Name, a)
				}
			}
			if code, _ := call(t, owner, "POST", s.URL+"/v1/login", nil, loginBody(k.ID, k.Secret)); code != 204 {
				t.Errorf("the app key's right secret: %d", code)
			}

			// The last admin cannot be deleted.
			code, body = call(t, owner, "DELETE", s.URL+"/v1/accounts/"+admin.ID, &admin, "")
			if code != 409 || !strings.Contains(body, "last admin") {
				t.Errorf("DELETE of the last admin: %d %s", code, body)
			}

			// Counted logins (the login command) still lock, at the threshold.
			for range 5 {
				run(t, "", nil, "wrong\n", "login", "--store", store, "--key-file", keyFile, "--key-id", admin.ID, "--secret-stdin")
			}
			if !accounts(t, store)[admin.ID].Locked {
				t.Fatal("five failed login commands did not lock the admin")
			}
			if code, _ := call(t, owner, "GET", s.URL+"/v1/accounts", &admin, ""); code != 401 {
				t.Fatalf("locked admin: %d, want 401", code)
			}

			// recover-admin refuses a store that does not exist, creating
			// nothing: a missing SQLite file, an empty PostgreSQL schema
			// (refused twice: the first refusal made no tables).
			if st.name == "SQLite" {
				missing := filepath.Join(t.TempDir(), "typo.db")
				r := run(t, "", nil, "", "recover-admin", "--store", "sqlite:"+missing)
				if _, err := os.Stat(missing); r.code == 0 || err == nil || !strings.Contains(r.stderr, "does not exist") {
					t.Errorf("recover-admin on a missing store: exit %d, %s; file: %v", r.code, r.stderr, err)
				}
			} else {
				empty := st.open(t)
				for range 2 {
					r := run(t, "", nil, "", "recover-admin", "--store", empty)
					if r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
						t.Errorf("recover-admin on an empty schema: exit %d, %s", r.code, r.stderr)
					}
				}
			}
			// --unlock-only unlocks and prints no secret.
			r := run(t, "", nil, "", "recover-admin", "--store", store, "--unlock-only", "--json")
			if r.code != 0 || strings.Contains(r.stdout, "secret") || !strings.Contains(r.stdout, admin.ID) {
				t.Fatalf("recover-admin --unlock-only: exit %d, %q %s", r.code, r.stdout, r.stderr)
			}
			if code, _ := call(t, owner, "GET", s.URL+"/v1/accounts", &admin, ""); code != 200 {
				t.Fatalf("unlocked admin: %d, want 200", code)
			}
			// A new secret, printed once as JSON, audited as recover-admin.
			r = run(t, "", nil, "", "recover-admin", "--store", store, "--json")
			var got struct{ ID, Secret string }
			if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil || got.ID != admin.ID || len(got.Secret) < 43 {
				t.Fatalf("recover-admin --json: exit %d, %q (%v) %s", r.code, r.stdout, err, r.stderr)
			}
			if code, _ := call(t, owner, "GET", s.URL+"/v1/accounts", &backendtest.Admin{ID: got.ID, Secret: got.Secret}, ""); code != 200 {
				t.Fatalf("the recovered secret: %d", code)
			}
			if code, _ := call(t, from("127.0.0.10"), "GET", s.URL+"/v1/accounts", &admin, ""); code != 401 {
				t.Fatalf("the old secret after recover-admin: %d, want 401", code)
			}
			var regen *auditEvent
			for _, e := range audit(t, store) {
				if e.Action == "api_key_account.regenerate" && e.TargetID == admin.ID {
					regen = &e
				}
			}
			if regen == nil || regen.Actor != "recover-admin" {
				t.Errorf("regenerate event %+v, want one by recover-admin", regen)
			}
		})
	}
}
