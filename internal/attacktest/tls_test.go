package attacktest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestHardening2_3_consoleOverTLS: under the real serve --tls-cert, a
// browser's sign-in (Origin https://...) works, the console's cookies are
// Secure and its pages carry HSTS. On main the listener wrapper hid TLS from
// the handlers: no Secure, no HSTS, and the sign-in got 403.
func TestHardening2_3_consoleOverTLS(t *testing.T) {
	pki := backendtest.WritePKI(t)
	admin := newAdmin()
	s := startServe(t, "", adminEnv(admin), "--store", backendtest.SQLiteStore(t), "--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("serve with --tls-cert listens on %q: %s", s.URL, s.log())
	}
	pem, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	jar := map[string]*http.Cookie{}
	do := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, s.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			// What Chromium sends with the sign-in form.
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", s.URL)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		for _, ck := range jar {
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		for _, ck := range resp.Cookies() {
			if !ck.Secure {
				t.Errorf("%s %s sets cookie %s without Secure over TLS", method, path, ck.Name)
			}
			jar[ck.Name] = ck
		}
		if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("%s %s over TLS: no Strict-Transport-Security", method, path)
		}
		return resp, string(raw)
	}

	resp, page := do("GET", "/console/signin", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("sign-in form: %d\n%s", resp.StatusCode, page)
	}
	resp, page = do("POST", "/console/signin", url.Values{"csrf": {m[1]}, "key_id": {admin.ID}, "secret": {admin.Secret}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/keys" {
		t.Fatalf("sign-in with Origin %s: %d %q\n%s", s.URL, resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if jar["apphost_console"] == nil {
		t.Fatal("no session cookie")
	}
	if resp, _ := do("GET", "/console/keys", nil); resp.StatusCode != 200 {
		t.Errorf("keys page signed in: %d", resp.StatusCode)
	}
}
