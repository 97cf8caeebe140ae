package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/console"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// pagesToCheck are the console's pages that need a session.
func pagesToCheck(w *world) []string {
	return []string{
		"/console/", "/console/keys", "/console/keys?after=a", "/console/apps",
		"/console/apps?account=" + w.siem.ID, "/console/rotations", "/console/app-hosts", "/console/audit",
		"/console/audit?target=" + w.siem.ID, "/console/no-such-page",
	}
}

// wantSignInFirst: no session means a redirect to the sign-in form (GET) or 401.
func wantSignInFirst(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
	case resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/console/signin":
	default:
		t.Errorf("%s: status %d (Location %q), want 401 or 303 to /console/signin", what, resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestRoutesNeedASession(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t, w.url, nil)
	for _, p := range pagesToCheck(w) {
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "DELETE"} {
			resp, body := b.do(method, p, url.Values{}, nil)
			wantSignInFirst(t, method+" "+p, resp)
			if strings.Contains(body, w.siem.Name) {
				t.Errorf("%s %s without a session shows an account name", method, p)
			}
		}
	}
	resp, _ := b.do("POST", "/console/signout", url.Values{}, nil)
	wantSignInFirst(t, "POST /console/signout", resp)

	// A forged, a tampered and a foreign-key cookie are no session either.
	good := newBrowser(t, w.url, nil)
	if resp := good.signIn(w.admin.ID, w.admin.Secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	token := good.cookies["apphost_console"].Value
	payload, sig, _ := strings.Cut(token, ".")
	for name, v := range map[string]string{
		"garbage":  "not-a-session",
		"tampered": payload + "A." + sig,
		"unsigned": payload + ".",
	} {
		b := newBrowser(t, w.url, nil)
		b.cookies["apphost_console"] = &http.Cookie{Name: "apphost_console", Value: v}
		resp, _ := b.do("GET", "/console/keys", nil, nil)
		wantSignInFirst(t, name+" cookie", resp)
	}
	other := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	otherAdmin := backendtest.Bootstrap(t, other)
	ob := newBrowser(t, newServer(t, other, w.clock, server.RateLimit{}, false), nil)
	if resp := ob.signIn(otherAdmin.ID, otherAdmin.Secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in on the other store: %d", resp.StatusCode)
	}
	b.cookies["apphost_console"] = ob.cookies["apphost_console"]
	resp, _ = b.do("GET", "/console/keys", nil, nil)
	wantSignInFirst(t, "a session of another store", resp)
}

func TestSignInSessionAndExpiry(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t, w.url, nil)

	_, page := b.do("GET", "/console/signin", nil, nil)
	c := b.cookies["apphost_console_csrf"]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
		t.Errorf("CSRF cookie = %+v, want HttpOnly, SameSite=Strict, not Secure over plain HTTP", c)
	}
	resp, _ := b.do("POST", "/console/signin", url.Values{"csrf": {csrf(t, page)}, "key_id": {w.admin.ID}, "secret": {w.admin.Secret}},
		http.Header{"Origin": {w.url}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/keys" {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	s := b.cookies["apphost_console"]
	if s == nil {
		t.Fatal("no session cookie")
	}
	if !s.HttpOnly || s.SameSite != http.SameSiteStrictMode || s.Secure || s.Path != "/console/" {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/console/", s)
	}
	if d := s.Expires.Sub(w.clock.Now()); d < testTTL-2*time.Second || d > testTTL+time.Second {
		t.Errorf("session cookie expires in %s, want %s", d, testTTL)
	}
	if strings.Contains(s.Value, w.admin.Secret) || strings.Contains(s.Value, w.admin.ID) {
		t.Error("the session cookie holds the key ID or secret in the clear")
	}
	for _, p := range pagesToCheck(w) {
		resp, body := b.do("GET", p, nil, nil)
		want := http.StatusOK
		switch p {
		case "/console/":
			want = http.StatusSeeOther
		case "/console/no-such-page":
			want = http.StatusNotFound
		}
		if resp.StatusCode != want {
			t.Errorf("GET %s signed in: %d, want %d", p, resp.StatusCode, want)
		}
		for _, sec := range w.secrets {
			if strings.Contains(body, sec) {
				t.Errorf("GET %s shows a secret", p)
			}
		}
	}

	// The server's clock moves past the session's end: the same cookie is
	// refused (a browser would have dropped it; a stolen copy must not work).
	w.clock.Add(testTTL - time.Second)
	if resp, _ := b.do("GET", "/console/keys", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a second before the end: %d", resp.StatusCode)
	}
	w.clock.Add(time.Second)
	resp, _ = b.do("GET", "/console/keys", nil, nil)
	wantSignInFirst(t, "expired session", resp)
}

func TestSecureCookiesUnderTLS(t *testing.T) {
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	admin := backendtest.Bootstrap(t, svc)
	clk := &clock{t: time.Now()}
	base := newServer(t, svc, clk, server.RateLimit{}, true)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // httptest's own certificate
	b := newBrowser(t, base, &http.Client{Transport: tr})
	resp := b.signIn(admin.ID, admin.Secret)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in over TLS: %d", resp.StatusCode)
	}
	s := b.cookies["apphost_console"]
	if s == nil || !s.Secure || !s.HttpOnly || s.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie over TLS = %+v, want Secure, HttpOnly, SameSite=Strict", s)
	}
	resp, _ = b.do("GET", "/console/keys", nil, nil)
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no Strict-Transport-Security over TLS")
	}
}

func TestHeadersAndNoScript(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t, w.url, nil)
	b.signIn(w.admin.ID, w.admin.Secret)
	for _, p := range append(pagesToCheck(w), "/console/signin", "/console/static/console.css") {
		resp, body := b.do("GET", p, nil, nil)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if csp != console.ContentSecurityPolicy {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Cache-Control": "no-store", "Referrer-Policy": "same-origin"} {
			if got := h.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", p, k, got, want)
			}
		}
		low := strings.ToLower(body)
		for _, bad := range []string{"<script", "javascript:", " onclick=", " onload=", " style="} {
			if strings.Contains(low, bad) {
				t.Errorf("GET %s: the page holds %q", p, bad)
			}
		}
	}
	if strings.Contains(console.ContentSecurityPolicy, "unsafe") || !strings.Contains(console.ContentSecurityPolicy, "default-src 'none'") {
		t.Errorf("the CSP allows inline code or more than it needs: %s", console.ContentSecurityPolicy)
	}
}

func TestCSRFRefused(t *testing.T) {
	w := newWorld(t)
	creds := func(token string) url.Values {
		return url.Values{"csrf": {token}, "key_id": {w.admin.ID}, "secret": {w.admin.Secret}}
	}
	b := newBrowser(t, w.url, nil)
	_, page := b.do("GET", "/console/signin", nil, nil)
	token := csrf(t, page)
	for name, tc := range map[string]struct {
		token  string
		header http.Header
		drop   bool
	}{
		"no token":            {token: "", header: http.Header{"Origin": {w.url}}},
		"wrong token":         {token: token + "x", header: http.Header{"Origin": {w.url}}},
		"no CSRF cookie":      {token: token, header: http.Header{"Origin": {w.url}}, drop: true},
		"another origin":      {token: token, header: http.Header{"Origin": {"http://evil.example"}}},
		"cross-site fetch":    {token: token, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		"same-site elsewhere": {token: token, header: http.Header{"Sec-Fetch-Site": {"same-site"}}},
	} {
		nb := newBrowser(t, w.url, nil)
		if !tc.drop {
			nb.cookies["apphost_console_csrf"] = b.cookies["apphost_console_csrf"]
		}
		resp, _ := nb.do("POST", "/console/signin", creds(tc.token), tc.header)
		if resp.StatusCode != http.StatusForbidden || nb.cookies["apphost_console"] != nil {
			t.Errorf("sign-in with %s: %d, session %v; want 403 and no session", name, resp.StatusCode, nb.cookies["apphost_console"] != nil)
		}
	}
	// The right token and origin sign in.
	resp, _ := b.do("POST", "/console/signin", creds(token), http.Header{"Origin": {w.url}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the right token: %d", resp.StatusCode)
	}
	_, keys := b.do("GET", "/console/keys", nil, nil)
	out := csrf(t, keys)
	// Sign-out needs the session's own token and this origin.
	for name, tc := range map[string]struct {
		token  string
		header http.Header
	}{
		"no token":       {"", http.Header{"Origin": {w.url}}},
		"sign-in token":  {token, http.Header{"Origin": {w.url}}},
		"another origin": {out, http.Header{"Origin": {"http://evil.example"}}},
	} {
		resp, _ := b.do("POST", "/console/signout", url.Values{"csrf": {tc.token}}, tc.header)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out with %s: %d, want 403", name, resp.StatusCode)
		}
	}
	if resp, _ := b.do("GET", "/console/keys", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("refused sign-outs ended the session: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/console/signout", url.Values{"csrf": {out}}, http.Header{"Origin": {w.url}})
	if resp.StatusCode != http.StatusSeeOther || b.cookies["apphost_console"] != nil {
		t.Errorf("sign-out: %d, cookie kept %v", resp.StatusCode, b.cookies["apphost_console"] != nil)
	}
}

func TestSignInIsTheThrottledAdminLogin(t *testing.T) {
	w := newWorld(t)
	base := newServer(t, w.svc, w.clock, server.RateLimit{Burst: 2, Backoff: time.Minute, MaxBackoff: time.Hour}, false)
	b := newBrowser(t, base, nil)
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		if resp := b.signIn(w.admin.ID, "wrong-"+strings.Repeat("y", 40)); resp.StatusCode != want {
			t.Errorf("wrong secret %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	// Throttled: the right secret gets the same 429, unchecked.
	if resp := b.signIn(w.admin.ID, w.admin.Secret); resp.StatusCode != http.StatusTooManyRequests || b.cookies["apphost_console"] != nil {
		t.Errorf("right secret while throttled: %d, want 429 and no session", resp.StatusCode)
	}
	a, err := w.svc.GetAccount(context.Background(), w.admin.ID)
	if err != nil || a.Locked {
		t.Errorf("failed console sign-ins locked the admin account (%v)", err)
	}
	// Only admin accounts: the right secret of another account is refused.
	nb := newBrowser(t, w.url, nil)
	k, err := w.svc.CreateAccount(context.Background(), backend.CreateAccountRequest{Name: "not-admin"})
	if err != nil {
		t.Fatal(err)
	}
	if resp := nb.signIn(k.ID, k.Secret); resp.StatusCode != http.StatusForbidden || nb.cookies["apphost_console"] != nil {
		t.Errorf("a non-admin account's sign-in: %d, want 403 and no session", resp.StatusCode)
	}
	// A rotation of the admin key ends its sessions.
	if resp := nb.signIn(w.admin.ID, w.admin.Secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if _, err := w.svc.RecoverAdmin(context.Background(), w.admin.ID, false); err != nil {
		t.Fatal(err)
	}
	resp, _ := nb.do("GET", "/console/keys", nil, nil)
	wantSignInFirst(t, "a session of a rotated admin key", resp)
}

func TestSessionAcrossReplicas(t *testing.T) {
	w := newWorld(t)
	// A second replica: its own Service (own store connection) on the same store.
	replica := backendtest.Open(t, w.store, "")
	other := newServer(t, replica, w.clock, server.RateLimit{}, false)
	b := newBrowser(t, w.url, nil)
	if resp := b.signIn(w.admin.ID, w.admin.Secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	b.base = other
	resp, body := b.do("GET", "/console/keys", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "siem-forwarder") {
		t.Errorf("the session made on one replica on another: %d", resp.StatusCode)
	}
}

// TestSignOutEndsTheSession: after a sign-out, a copy of the old cookie is
// refused, on the replica that signed out and on any other of the store;
// another session of the same account goes on.
func TestSignOutEndsTheSession(t *testing.T) {
	w := newWorld(t)
	replica := backendtest.Open(t, w.store, "")
	other := newServer(t, replica, w.clock, server.RateLimit{}, false)
	b := newBrowser(t, w.url, nil)
	if resp := b.signIn(w.admin.ID, w.admin.Secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	second := newBrowser(t, w.url, nil)
	if resp := second.signIn(w.admin.ID, w.admin.Secret); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", resp.StatusCode)
	}
	stolen := *b.cookies["apphost_console"]
	_, keys := b.do("GET", "/console/keys", nil, nil)
	resp, _ := b.do("POST", "/console/signout", url.Values{"csrf": {csrf(t, keys)}}, http.Header{"Origin": {w.url}})
	if resp.StatusCode != http.StatusSeeOther || b.cookies["apphost_console"] != nil {
		t.Fatalf("sign-out: %d, cookie kept %v", resp.StatusCode, b.cookies["apphost_console"] != nil)
	}
	for _, base := range []string{w.url, other} {
		old := newBrowser(t, base, nil)
		old.cookies["apphost_console"] = &stolen
		resp, _ := old.do("GET", "/console/keys", nil, nil)
		wantSignInFirst(t, "the signed-out cookie at "+base, resp)
		resp, _ = old.do("POST", "/console/signout", url.Values{"csrf": {csrf(t, keys)}}, http.Header{"Origin": {base}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign-out again with the signed-out cookie at %s: %d, want 401", base, resp.StatusCode)
		}
	}
	if resp, _ := second.do("GET", "/console/keys", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the other session of the account after the sign-out: %d", resp.StatusCode)
	}
}
