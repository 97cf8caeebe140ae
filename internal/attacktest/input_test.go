package attacktest

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestFinding5_badBytesAre4xx: NUL bytes and invalid UTF-8, anonymous or
// authenticated, in a login ID, a description, a path or a query, answer a
// JSON 4xx on SQLite and PostgreSQL alike (PostgreSQL's text refuses them
// and used to turn them into 500s), and the server logs no error.
func TestFinding5_badBytesAre4xx(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			admin := newAdmin()
			s := startServe(t, "", adminEnv(admin), "--store", store, "--key-file", t.TempDir()+"/k.key")
			if s.URL == "" {
				t.Fatalf("serve did not start: %s", s.log())
			}
			c := from("127.0.0.1")
			for _, tc := range []struct {
				method, path string
				admin        *backendtest.Admin
				body         string
			}{
				{"POST", "/v1/login", nil, `{"api_key_id":"a\u0000b","secret":"x"}`},
				{"POST", "/v1/login", nil, "{\"api_key_id\":\"a\xffb\",\"secret\":\"x\"}"},
				{"POST", "/v1/accounts", &admin, `{"name":"k","description":"nul\u0000here"}`},
				{"POST", "/v1/accounts", &admin, "{\"name\":\"k\",\"description\":\"bad \xc3\x28 utf-8\"}"},
				{"GET", "/v1/accounts/ab%00cd", &admin, ""},
				{"GET", "/v1/accounts/by-name/ab%00cd", &admin, ""},
				{"GET", "/v1/apps/ab%FFcd", &admin, ""},
				{"GET", "/v1/accounts?locked=" + url.QueryEscape("tr\x00ue"), &admin, ""},
				{"GET", "/v1/accounts", &backendtest.Admin{ID: "a\x00b", Secret: "x"}, ""},
			} {
				code, body := call(t, c, tc.method, s.URL+tc.path, tc.admin, tc.body)
				if code < 400 || code > 499 || errorCode(body) == "" {
					t.Errorf("%s %s %q: %d %s, want a JSON 4xx", tc.method, tc.path, tc.body, code, body)
				}
			}
			if strings.Contains(s.log(), `"level":"ERROR"`) {
				t.Errorf("the server logged an error:\n%s", s.log())
			}
		})
	}
}

// TestFinding7_smaller: serve makes (and shows) the generated admin secret
// only once it has its port; 403 says forbidden; net/http's own 431 and
// 400 are JSON; an empty --store ("") is a usage error for every store command.
func TestFinding7_smaller(t *testing.T) {
	store := backendtest.SQLiteStore(t)

	// A taken port: serve fails, shows no secret, and makes no admin, so the
	// next start still can.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	failed := startServe(t, "", nil, "--store", store, "--listen", ln.Addr().String())
	failed.exited(t)
	if failed.code == 0 || strings.Contains(failed.out(), "APPHOST_API_KEY_SECRET") {
		t.Fatalf("serve on a taken port: exit %d, stdout %q", failed.code, failed.out())
	}
	_ = ln.Close()
	if n := len(accounts(t, store)); n != 0 {
		t.Fatalf("a failed start left %d accounts", n)
	}
	s := startServe(t, "", nil, "--store", store)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.out(), "APPHOST_API_KEY_SECRET=") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var admin backendtest.Admin
	for line := range strings.Lines(s.out()) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "APPHOST_API_KEY_ID="); ok {
			admin.ID = v
		}
		if v, ok := strings.CutPrefix(line, "APPHOST_API_KEY_SECRET="); ok {
			admin.Secret = v
		}
	}
	if admin.Secret == "" || strings.Index(s.out(), "listening on") > strings.Index(s.out(), "APPHOST_API_KEY_SECRET") {
		t.Fatalf("the generated secret is not shown after the listening line:\n%s", s.out())
	}

	// 403: forbidden, not unauthorized.
	c := from("127.0.0.1")
	code, body := call(t, c, "POST", s.URL+"/v1/accounts", &admin, `{"name":"plain"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var k struct{ ID, Secret string }
	if _, err := fmt.Sscanf(body, `{"id":%q`, &k.ID); err != nil {
		k.ID = between(body, `"id":"`, `"`)
	}
	k.Secret = between(body, `"secret":"`, `"`)
	code, body = call(t, c, "GET", s.URL+"/v1/accounts", &backendtest.Admin{ID: k.ID, Secret: k.Secret}, "")
	if code != 403 || errorCode(body) != "forbidden" {
		t.Errorf("a non-admin account: %d %s, want 403 forbidden", code, body)
	}

	// net/http's own answers: 431 and 400, as JSON.
	addr := strings.TrimPrefix(s.URL, "http://")
	for name, req := range map[string]string{
		"431": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n",
		"400": "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Write([]byte(req))
		var resp strings.Builder
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			resp.WriteString(sc.Text() + "\n")
		}
		_ = conn.Close()
		out := resp.String()
		if !strings.HasPrefix(out, "HTTP/1.1 "+name) || !strings.Contains(out, "Content-Type: application/json") || !strings.Contains(out, `{"error":{"code":"invalid"`) {
			t.Errorf("%s answer is not JSON:\n%.300s", name, out)
		}
	}

	// --store '' is a usage error, not the default store.
	for _, args := range [][]string{
		{"serve", "--store", ""}, {"audit", "--store", ""}, {"accounts", "--store", ""},
		{"login", "--store", "", "--key-id", k.ID, "--secret-stdin"}, {"recover-admin", "--store", ""},
	} {
		dir := t.TempDir()
		r := run(t, dir, nil, "x\n", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "--store is empty") {
			t.Errorf("%v: exit %d, %s", args, r.code, r.stderr)
		}
	}
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
