package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// clock is the console's injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is a served backend with a key inventory: a key with two apps that
// was rotated, a locked key whose app fails, a key with no app, and every
// secret the backend ever showed, to look for in pages.
type world struct {
	svc     *core.Service
	store   string
	admin   backendtest.Admin
	url     string
	clock   *clock
	secrets []string
	siem    *backend.Account
	billing *backend.Account
}

const testTTL = time.Hour

func newServer(t *testing.T, svc *core.Service, clk *clock, rl server.RateLimit, tls bool) string {
	t.Helper()
	h := server.New(server.Config{
		Backend: svc, Console: svc, Now: clk.Now, ConsoleSessionTTL: testTTL,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		FailedLogins: rl,
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv.URL
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	st := backendtest.SQLiteStore(t)
	svc := backendtest.Open(t, st, "")
	w := &world{svc: svc, store: st, admin: backendtest.Bootstrap(t, svc), clock: &clock{t: time.Now()}}
	w.secrets = append(w.secrets, w.admin.Secret)
	w.url = newServer(t, svc, w.clock, server.RateLimit{Burst: 1000}, false)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	key := func(name string) *backend.AccountWithSecret {
		a, err := svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: name, Description: "console test"})
		must(err)
		w.secrets = append(w.secrets, a.Secret)
		return a
	}
	app := func(name, host string, keyID string) *backend.App {
		a, err := svc.CreateApp(ctx, backend.CreateAppRequest{Name: name, AppHost: host, Version: "1.4.2"})
		must(err)
		_, err = svc.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: a.ID, Name: "api-key", AccountID: keyID})
		must(err)
		v := "opaque-config-secret-" + name
		_, err = svc.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: a.ID, Name: "db-password", Value: &v})
		must(err)
		w.secrets = append(w.secrets, v)
		a, err = svc.DeployApp(ctx, a.ID)
		must(err)
		return a
	}
	siem := key("siem-forwarder")
	billing := key("billing-export")
	key("nightly-batch")
	app("siem-forwarder", "apphost-east", siem.ID)
	app("siem-archiver", "apphost-west", siem.ID)
	billApp := app("billing-export", "apphost-east", billing.ID)

	// Two failed logins at the siem key (a stale copy somewhere), then the
	// rotation: both siem apps undeployed, the key regenerated, the
	// apps deployed again with the new secret.
	for range 2 {
		_ = svc.Login(ctx, backend.LoginRequest{AccountID: siem.ID, Secret: "stale-" + strings.Repeat("z", 40)})
	}
	rot, err := svc.RegenerateSecret(ctx, backend.RegenerateRequest{ID: siem.ID})
	must(err)
	w.secrets = append(w.secrets, rot.Secret)

	// The billing key locks (a stale secret somewhere), and its app fails
	// when it is redeployed.
	for range backend.DefaultLockoutThreshold {
		_ = svc.Login(ctx, backend.LoginRequest{AccountID: billing.ID, Secret: "stale-" + strings.Repeat("x", 40)})
	}
	_, err = svc.UndeployApp(ctx, billApp.ID)
	must(err)
	_, err = svc.DeployApp(ctx, billApp.ID)
	must(err)

	w.siem, err = svc.GetAccount(ctx, siem.ID)
	must(err)
	w.billing, err = svc.GetAccount(ctx, billing.ID)
	must(err)
	if !w.billing.Locked {
		t.Fatal("billing-export did not lock")
	}
	return w
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t       *testing.T
	base    string
	c       *http.Client
	cookies map[string]*http.Cookie
}

func newBrowser(t *testing.T, base string, c *http.Client) *browser {
	if c == nil {
		c = &http.Client{}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, base: base, c: c, cookies: map[string]*http.Cookie{}}
}

func (b *browser) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return resp, string(raw)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the form in page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", page)
	}
	return m[1]
}

// signIn signs in through the form as a browser would and returns the answer.
func (b *browser) signIn(id, secret string) *http.Response {
	b.t.Helper()
	_, page := b.do("GET", "/console/signin", nil, nil)
	resp, _ := b.do("POST", "/console/signin", url.Values{"csrf": {csrf(b.t, page)}, "key_id": {id}, "secret": {secret}},
		http.Header{"Origin": {b.base}, "Sec-Fetch-Site": {"same-origin"}})
	return resp
}
