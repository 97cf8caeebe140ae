package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// limitedEnv is a handler over a fresh store with a small failed-login budget,
// called directly so each request can come from any address.
type limitedEnv struct {
	svc   *core.Service
	h     http.Handler
	admin backendtest.Admin
	clock *clock
}

func newLimitedEnv(t *testing.T, burst int, backoff time.Duration) *limitedEnv {
	t.Helper()
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	e := &limitedEnv{svc: svc, admin: backendtest.Bootstrap(t, svc), clock: &clock{t: time.Unix(1_700_000_000, 0)}}
	e.h = server.New(server.Config{
		Backend:      svc,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		FailedLogins: server.RateLimit{Burst: burst, Backoff: backoff, Now: e.clock.Now},
	})
	return e
}

func (e *limitedEnv) do(from, method, path, id, secret, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = from + ":40000"
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func (e *limitedEnv) failures(t *testing.T, id string) int64 {
	t.Helper()
	a, err := e.svc.GetAccount(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.FailedLoginAttempts
}

func loginBody(id, secret string) string {
	b, _ := json.Marshal(backend.LoginRequest{AccountID: id, Secret: secret})
	return string(b)
}

// TestFailedLoginThrottle: failed network logins (Basic auth and /v1/login
// alike) never count toward the lockout; past the burst, an address must
// wait at that account (1 min, doubling), and while it waits the right and
// the wrong secret get the same 429; other addresses and other accounts are
// not affected; a success forgets the failures.
func TestFailedLoginThrottle(t *testing.T) {
	const attacker, other = "203.0.113.7", "198.51.100.9"
	e := newLimitedEnv(t, 2, time.Minute)
	ctx := context.Background()
	k, err := e.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "victim"})
	if err != nil {
		t.Fatal(err)
	}

	// The burst: two failures at each account, checked, audited, not counted.
	for range 2 {
		if w := e.do(attacker, "GET", "/v1/accounts", e.admin.ID, "wrong", ""); w.Code != 401 {
			t.Fatalf("wrong Basic auth: %d %s", w.Code, w.Body)
		}
		if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong")); w.Code != 401 {
			t.Fatalf("wrong login: %d %s", w.Code, w.Body)
		}
	}
	if a, v := e.failures(t, e.admin.ID), e.failures(t, k.ID); a != 0 || v != 0 {
		t.Fatalf("network failures counted: admin %d, victim %d failed_login_attempts; want 0 and 0", a, v)
	}

	// Past it: 429 with Retry-After for the wrong secret and the right one.
	for i := range 20 {
		for _, secret := range []string{"wrong", e.admin.Secret} {
			w := e.do(attacker, "GET", "/v1/accounts", e.admin.ID, secret, "")
			if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), backend.CodeRateLimited) {
				t.Fatalf("attempt %d past the burst (Basic auth): %d %v %s", i, w.Code, w.Header(), w.Body)
			}
		}
		for _, secret := range []string{"wrong", k.Secret} {
			if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, secret)); w.Code != 429 {
				t.Fatalf("attempt %d past the burst (login): %d %s", i, w.Code, w.Body)
			}
		}
	}
	if got := w429RetryAfter(e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong"))); got != "60" {
		t.Errorf("Retry-After = %q, want 60", got)
	}
	if acct, _ := e.svc.GetAccount(ctx, k.ID); acct.Locked || acct.FailedLoginAttempts != 0 {
		t.Fatalf("the victim: locked %v, failed_login_attempts %d", acct.Locked, acct.FailedLoginAttempts)
	}

	// Another address is not affected, nor is another account at the same address.
	if w := e.do(other, "POST", "/v1/login", "", "", loginBody(k.ID, k.Secret)); w.Code != 204 {
		t.Fatalf("other address: %d %s", w.Code, w.Body)
	}
	k2, err := e.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "bystander"})
	if err != nil {
		t.Fatal(err)
	}
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k2.ID, k2.Secret)); w.Code != 204 {
		t.Fatalf("other account, same address: %d %s", w.Code, w.Body)
	}

	// After the wait one attempt is checked; its failure doubles the wait.
	e.clock.Add(time.Minute)
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong")); w.Code != 401 {
		t.Fatalf("after the wait: %d %s", w.Code, w.Body)
	}
	if got := w429RetryAfter(e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, k.Secret))); got != "120" {
		t.Fatalf("Retry-After after a failure past the wait = %q, want 120", got)
	}
	// The right secret after the wait passes and forgets the failures.
	e.clock.Add(2 * time.Minute)
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, k.Secret)); w.Code != 204 {
		t.Fatalf("right secret after the wait: %d %s", w.Code, w.Body)
	}
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong")); w.Code != 401 {
		t.Fatalf("a failure after a success is in a new burst: %d %s", w.Code, w.Body)
	}
	// The failures are in the audit log, each marked as not counted.
	evs, err := e.svc.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, ev := range evs {
		if ev.Action == backend.ActionLoginFailure {
			failed++
			if !strings.Contains(ev.Detail, "not counted") {
				t.Errorf("failure event without 'not counted': %+v", ev)
			}
		}
	}
	if failed != 6 {
		t.Errorf("%d login.failure events, want 6 (the throttled attempts are not checked)", failed)
	}
}

func w429RetryAfter(w *httptest.ResponseRecorder) string {
	if w.Code != 429 {
		return ""
	}
	return w.Header().Get("Retry-After")
}

// TestSuccessfulBasicAuthWritesNothing: an authenticated read is a read; the
// old path wrote a login.success event (and a write transaction) per call.
func TestSuccessfulBasicAuthWritesNothing(t *testing.T) {
	e := newLimitedEnv(t, 3, time.Minute)
	before := lastSeq(t, e.svc)
	for range 10 {
		if w := e.do("192.0.2.1", "GET", "/v1/accounts", e.admin.ID, e.admin.Secret, ""); w.Code != 200 {
			t.Fatalf("GET: %d %s", w.Code, w.Body)
		}
	}
	if after := lastSeq(t, e.svc); after != before {
		evs, _ := e.svc.ListAuditEvents(context.Background(), backend.AuditQuery{AfterSeq: before})
		t.Fatalf("10 authenticated reads wrote %d audit events: %+v", after-before, evs)
	}

	// A failure is audited and never counted.
	if w := e.do("192.0.2.1", "GET", "/v1/accounts", e.admin.ID, "wrong", ""); w.Code != 401 {
		t.Fatalf("wrong: %d", w.Code)
	}
	if n := e.failures(t, e.admin.ID); n != 0 {
		t.Fatalf("failed_login_attempts = %d after a network failure, want 0", n)
	}
	if after := lastSeq(t, e.svc); after != before+1 {
		t.Fatalf("a failed Basic auth wrote %d audit events, want 1", after-before)
	}
}
