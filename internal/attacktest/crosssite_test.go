package attacktest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestHardening2_8_crossSiteRequestsRefused: a web page of another site can
// have a browser send a text/plain body anywhere without asking (no CORS
// preflight). The API takes only JSON bodies and refuses requests whose
// Origin or Sec-Fetch-Site says another site: such logins neither throttle
// the operator's address nor reach the store, a browser's Basic credentials
// create nothing, and programs (which send neither header) and this
// server's own origin are served as before.
func TestHardening2_8_crossSiteRequestsRefused(t *testing.T) {
	store := backendtest.SQLiteStore(t)
	admin := newAdmin()
	s := startServe(t, "", adminEnv(admin), "--store", store)
	if s.URL == "" {
		t.Fatalf("serve did not start: %s", s.log())
	}
	c := from("127.0.0.1")
	send := func(method, path, ctype, body string, creds bool, h map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if creds {
			req.SetBasicAuth(admin.ID, admin.Secret)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	evil := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
	wrong := loginBody(admin.ID, strings.Repeat("w", 43))

	// A page's form or fetch: text/plain, from another site, many times.
	for range 10 {
		if code, body := send("POST", "/v1/login", "text/plain", wrong, false, evil); code != 403 && code != 415 {
			t.Fatalf("cross-site text/plain login: %d %s", code, body)
		}
		if code, body := send("POST", "/v1/login", "text/plain", wrong, false, nil); code != 415 {
			t.Fatalf("text/plain login: %d %s", code, body)
		}
		if code, body := send("POST", "/v1/login", "application/json", wrong, false, evil); code != 403 {
			t.Fatalf("cross-site JSON login: %d %s", code, body)
		}
		if code, body := send("POST", "/v1/login", "application/json", wrong, false, map[string]string{"Sec-Fetch-Site": "same-site"}); code != 403 {
			t.Fatalf("same-site JSON login: %d %s", code, body)
		}
	}
	// A browser that holds the admin's Basic credentials creates nothing.
	for _, h := range []map[string]string{evil, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}} {
		if code, body := send("POST", "/v1/accounts", "application/json", `{"name":"planted"}`, true, h); code != 403 {
			t.Errorf("cross-site create with %v: %d %s", h, code, body)
		}
	}
	if code, body := send("POST", "/v1/accounts", "text/plain", `{"name":"planted"}`, true, nil); code != 415 {
		t.Errorf("text/plain create: %d %s", code, body)
	}
	// Programs, and this server's own origin, are served: the operator's
	// address is not throttled by any of the above.
	if code, body := send("GET", "/v1/accounts", "", "", true, nil); code != 200 {
		t.Errorf("the admin after the cross-site requests: %d %s", code, body)
	}
	if code, body := send("POST", "/v1/accounts", "application/json; charset=utf-8", `{"name":"made-by-a-program"}`, true, nil); code != 201 {
		t.Errorf("a program's create: %d %s", code, body)
	}
	if code, body := send("GET", "/v1/accounts", "", "", true, map[string]string{"Origin": s.URL, "Sec-Fetch-Site": "same-origin"}); code != 200 {
		t.Errorf("same-origin read: %d %s", code, body)
	}
	s.stop()
	for id, a := range accounts(t, store) {
		if a.Name == "planted" {
			t.Errorf("a cross-site request created account %s", id)
		}
	}
	if n := count(audit(t, store), "login.failure", admin.ID); n != 0 {
		t.Errorf("%d failed logins reached the store", n)
	}
}
