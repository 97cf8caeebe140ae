package attacktest

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestFinding6_dsnPasswordsMasked: a PostgreSQL password in the URL, as
// user:PASSWORD@ or ?password=, is in no error, no serve log line and no
// accounts --import-blocks header.
func TestFinding6_dsnPasswordsMasked(t *testing.T) {
	store := backendtest.PostgresStore(t) // trust auth: the password is not checked
	const pw1, pw2 = "Pw-In-Userinfo-4711", "Pw-In-Query-0815"
	u, err := url.Parse(store)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pw1)
	q := u.Query()
	q.Set("password", pw2)
	u.RawQuery = q.Encode()
	withPw := u.String()
	leaks := func(what, out string) {
		t.Helper()
		if strings.Contains(out, pw1) || strings.Contains(out, pw2) {
			t.Errorf("%s shows a password:\n%s", what, out)
		}
	}

	admin := newAdmin()
	s := startServe(t, "", adminEnv(admin), "--store", withPw, "--key-file", t.TempDir()+"/k.key")
	if s.URL == "" {
		t.Fatalf("serve did not start: %s", s.log())
	}
	s.stop()
	if !strings.Contains(s.log(), `"store":"postgres://`) {
		t.Errorf("the serve log does not name the store:\n%s", s.log())
	}
	leaks("the serve log", s.log()+s.out())

	r := run(t, "", nil, "", "accounts", "--store", withPw, "--import-blocks")
	if r.code != 0 || !strings.Contains(r.stdout, "xxxxx") {
		t.Errorf("accounts --import-blocks: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	leaks("accounts --import-blocks", r.stdout+r.stderr)

	// Errors: a closed port, and a database that does not exist.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := *u
	closed.Host = ln.Addr().String()
	_ = ln.Close()
	nodb := *u
	nodb.Path = "/no_such_db"
	for _, dsn := range []string{closed.String(), nodb.String()} {
		for _, cmd := range []string{"serve", "audit"} {
			r := run(t, "", adminEnv(admin), "", cmd, "--store", dsn)
			if r.code == 0 {
				t.Errorf("%s on a bad DSN succeeded", cmd)
			}
			leaks(cmd+" error", r.stdout+r.stderr)
		}
	}
}

// TestHardening2_4_dsnPasswordsMaskedInEveryForm: a password in a key/value
// connection string (host=... password=...), in a POSTGRES:// URL or in a
// pgx:// URL is in no output of serve, audit, accounts (--import-blocks
// too), login or recover-admin. Such stores are refused, and the refusal
// named them with the password in the clear.
func TestHardening2_4_dsnPasswordsMaskedInEveryForm(t *testing.T) {
	const pw = "Pw-Every-Form-4711"
	for _, store := range []string{
		"host=127.0.0.1 port=1 user=u password=" + pw + " dbname=x",
		"host=127.0.0.1 password='" + pw + " with space' dbname=x",
		"POSTGRES://u:" + pw + "@127.0.0.1:1/x",
		"pgx://u:" + pw + "@127.0.0.1:1/x",
		"postgresql://127.0.0.1:1/x?PASSWORD=" + pw,
	} {
		for _, args := range [][]string{
			{"serve", "--listen", "127.0.0.1:0", "--store", store},
			{"audit", "--store", store},
			{"accounts", "--store", store},
			{"accounts", "--store", store, "--import-blocks"},
			{"login", "--store", store, "--key-id", newAdmin().ID, "--secret-stdin"},
			{"recover-admin", "--store", store},
		} {
			r := run(t, "", adminEnv(newAdmin()), "x\n", args...)
			if r.code == 0 {
				t.Errorf("%s on %q succeeded", args[0], store[:10])
			}
			if out := r.stdout + r.stderr; strings.Contains(out, pw) {
				t.Errorf("%s shows the password of a store given as %q...:\n%s", args[0], store[:10], out)
			}
		}
	}
}
