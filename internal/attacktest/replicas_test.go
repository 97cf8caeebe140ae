package attacktest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestFinding3_replicasShareOneKey: two serve processes on one PostgreSQL,
// each started in its own directory as on two machines. Whichever starts
// first, even on an empty store, a second one without the store's key
// refuses to start (no key file: it makes none; another key file: refused);
// given the same key through APPHOST_KEY_FILE it starts, and a secret put
// through one deploys through the other. audit and accounts from a third
// directory need no key file and create none.
func TestFinding3_replicasShareOneKey(t *testing.T) {
	for _, order := range []string{"A first", "B first"} {
		t.Run(order, func(t *testing.T) {
			store := backendtest.PostgresStore(t)
			admin := newAdmin()
			dirA, dirB := t.TempDir(), t.TempDir()
			first, second := dirA, dirB
			if order == "B first" {
				first, second = dirB, dirA
			}
			// The first replica makes the key (.apphost/apphost.key under its directory).
			r1 := startServe(t, first, adminEnv(admin), "--store", store)
			if r1.URL == "" {
				t.Fatalf("first replica did not start: %s", r1.log())
			}
			key1 := filepath.Join(first, ".apphost", "apphost.key")
			if _, err := os.Stat(key1); err != nil {
				t.Fatalf("first replica's key file: %v", err)
			}

			// No key file: refused, and no key file made.
			r2 := startServe(t, second, adminEnv(admin), "--store", store)
			r2.exited(t)
			key2 := filepath.Join(second, ".apphost", "apphost.key")
			if r2.URL != "" || r2.code == 0 || !strings.Contains(r2.log(), "is missing") {
				t.Fatalf("second replica without the key: exit %d, %s", r2.code, r2.log())
			}
			if _, err := os.Stat(key2); err == nil {
				t.Fatal("the refused replica made a key file")
			}
			// Its own key file: refused.
			other := filepath.Join(t.TempDir(), "other.key")
			if err := os.WriteFile(other, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r2 = startServe(t, second, adminEnv(admin), "--store", store, "--key-file", other)
			r2.exited(t)
			if r2.URL != "" || r2.code == 0 || !strings.Contains(r2.log(), "not this store's sealing key") {
				t.Fatalf("second replica with another key: exit %d, %s", r2.code, r2.log())
			}

			// The same key through the environment: it starts, and the two agree.
			shared := filepath.Join(t.TempDir(), "shared.key")
			raw, err := os.ReadFile(key1)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(shared, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			r2 = startServe(t, second, append(adminEnv(admin), "APPHOST_KEY_FILE="+shared), "--store", store)
			if r2.URL == "" {
				t.Fatalf("second replica with the same key: %s", r2.log())
			}
			c := from("127.0.0.1")
			code, body := call(t, c, "POST", r1.URL+"/v1/accounts", &admin, `{"name":"k"}`)
			if code != 201 {
				t.Fatalf("create through the first: %d %s", code, body)
			}
			var k struct{ ID string }
			_ = json.Unmarshal([]byte(body), &k)
			code, body = call(t, c, "POST", r1.URL+"/v1/apps", &admin, `{"name":"app","deployed":false}`)
			if code != 201 {
				t.Fatalf("create app: %d %s", code, body)
			}
			var app struct{ ID string }
			_ = json.Unmarshal([]byte(body), &app)
			code, body = call(t, c, "PUT", r1.URL+"/v1/apps/"+app.ID+"/secrets/s", &admin, `{"value":"opaque-value"}`)
			if code/100 != 2 {
				t.Fatalf("put through the first: %d %s", code, body)
			}
			if code, body = call(t, c, "POST", r2.URL+"/v1/apps/"+app.ID+"/deploy", &admin, ""); code != 200 {
				t.Fatalf("deploy through the second: %d %s", code, body)
			}

			// audit and accounts from a third directory: no key file needed or made.
			third := t.TempDir()
			for _, cmd := range []string{"audit", "accounts"} {
				r := run(t, third, nil, "", cmd, "--store", store)
				if r.code != 0 {
					t.Errorf("%s without a key file: exit %d: %s", cmd, r.code, r.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(third, ".apphost")); err == nil {
				t.Error("audit or accounts made a key file")
			}
		})
	}
}
