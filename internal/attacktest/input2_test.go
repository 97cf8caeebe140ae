package attacktest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestHardening2_9_badInputIs4xx: bad bytes in query parameters of the API
// and the console, on SQLite and PostgreSQL alike (PostgreSQL answered 500);
// a body cut short (400, not 500); a 4 MB number in a JSON field, which is
// not echoed whole. None of them logs an error.
func TestHardening2_9_badInputIs4xx(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			admin := newAdmin()
			s := startServe(t, "", adminEnv(admin), "--store", store, "--key-file", t.TempDir()+"/k.key")
			if s.URL == "" {
				t.Fatalf("serve did not start: %s", s.log())
			}
			c := from("127.0.0.1")
			for _, q := range []string{
				"bound_to_account_id=%00",
				"bound_to_account_id=%ff",
				"app_host=%00",
				"bound_to_account_id=%00&bound_to_account_id=%zz", // a pair that does not decode must not hide one that does
				"app_host=a&app_host=%00",
			} {
				code, body := call(t, c, "GET", s.URL+"/v1/apps?"+q, &admin, "")
				if code != 400 || errorCode(body) == "" {
					t.Errorf("GET /v1/apps?%s: %d %s, want a JSON 400", q, code, body)
				}
			}

			cookie := consoleSession(t, c, s.URL, admin)
			for _, p := range []string{"/console/keys?after=%ff", "/console/apps?after=%00", "/console/audit?target=%00",
				"/console/apps?account=%ff", "/console/audit?target=a&target=%00%zz"} {
				req, _ := http.NewRequest("GET", s.URL+p, nil)
				req.AddCookie(cookie)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != 400 {
					t.Errorf("GET %s: %d, want 400", p, resp.StatusCode)
				}
			}

			// A body that ends before its Content-Length.
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(conn, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"api_key_id\":")
			_ = conn.(*net.TCPConn).CloseWrite()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a cut body: %v", err)
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = conn.Close()
			if resp.StatusCode != 400 || errorCode(string(raw)) == "" {
				t.Errorf("a cut body: %d %s, want a JSON 400", resp.StatusCode, raw)
			}

			// A 4 MB number.
			huge := `{"expected_secret_version":` + strings.Repeat("9", 4<<20-100) + `}`
			code, body := call(t, c, "POST", s.URL+"/v1/accounts/"+admin.ID+"/regenerate", &admin, huge)
			if code != 400 || len(body) > 1024 {
				t.Errorf("a 4 MB number: %d, %d bytes of answer: %.300s", code, len(body), body)
			}

			if strings.Contains(s.log(), `"level":"ERROR"`) {
				t.Errorf("the server logged an error:\n%.3000s", s.log())
			}
		})
	}
}

// consoleSession signs in to the console as admin and returns the session
// cookie.
func consoleSession(t *testing.T, c *http.Client, base string, admin backendtest.Admin) *http.Cookie {
	t.Helper()
	resp, err := c.Get(base + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no sign-in form: %s", page)
	}
	form := url.Values{"csrf": {string(m[1])}, "key_id": {admin.ID}, "secret": {admin.Secret}}
	req, _ := http.NewRequest("POST", base+"/console/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range resp.Cookies() {
		req.AddCookie(ck)
	}
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "apphost_console" {
			return ck
		}
	}
	t.Fatalf("sign-in: %d, no session cookie", resp.StatusCode)
	return nil
}
