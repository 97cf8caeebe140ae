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
	svc   *backend.Service
	h     http.Handler
	admin backendtest.Admin
	clock *clock
}

func newLimitedEnv(t *testing.T, burst int, refill time.Duration) *limitedEnv {
	t.Helper()
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	e := &limitedEnv{svc: svc, admin: backendtest.Bootstrap(t, svc), clock: &clock{t: time.Unix(1_700_000_000, 0)}}
	e.h = server.New(server.Config{
		Backend:      svc,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		FailedLogins: server.RateLimit{Burst: burst, Refill: refill, Now: e.clock.Now},
	})
	return e
}

func (e *limitedEnv) do(from, method, path, id, secret, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
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

// TestFailedLoginRateLimit: past its budget, an address's wrong attempts
// (Basic auth and /v1/login alike) get 429 with Retry-After and do not count
// toward the lockout; right credentials still pass; other addresses keep
// their own budget; the budget refills with time.
func TestFailedLoginRateLimit(t *testing.T) {
	const attacker, other = "203.0.113.7", "198.51.100.9"
	e := newLimitedEnv(t, 2, time.Minute)
	ctx := context.Background()
	k, err := e.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "victim"})
	if err != nil {
		t.Fatal(err)
	}

	// The budget: two failures, each counted.
	if w := e.do(attacker, "GET", "/v1/accounts", e.admin.ID, "wrong", ""); w.Code != 401 {
		t.Fatalf("first wrong Basic auth: %d %s", w.Code, w.Body)
	}
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong")); w.Code != 401 {
		t.Fatalf("first wrong login: %d %s", w.Code, w.Body)
	}
	if e.failures(t, e.admin.ID) != 1 || e.failures(t, k.ID) != 1 {
		t.Fatalf("failed_login_attempts admin %d, victim %d; want 1 and 1", e.failures(t, e.admin.ID), e.failures(t, k.ID))
	}

	// Past it: 429, Retry-After, and nothing counted, however many tries.
	for i := range 20 {
		w := e.do(attacker, "GET", "/v1/accounts", e.admin.ID, "wrong", "")
		if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), backend.CodeRateLimited) {
			t.Fatalf("attempt %d past the budget (Basic auth): %d %v %s", i, w.Code, w.Header(), w.Body)
		}
		w = e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong"))
		if w.Code != 429 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("attempt %d past the budget (login): %d %s", i, w.Code, w.Body)
		}
	}
	if got := w429RetryAfter(e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong"))); got != "60" {
		t.Errorf("Retry-After = %q, want 60", got)
	}
	if a, v := e.failures(t, e.admin.ID), e.failures(t, k.ID); a != 1 || v != 1 {
		t.Fatalf("rate-limited attempts counted: admin %d, victim %d failed_login_attempts; want 1 and 1", a, v)
	}
	if acct, _ := e.svc.GetAccount(ctx, k.ID); acct.Locked {
		t.Fatal("the victim is locked")
	}

	// Right credentials from the same address still pass.
	if w := e.do(attacker, "GET", "/v1/accounts", e.admin.ID, e.admin.Secret, ""); w.Code != 200 {
		t.Fatalf("right Basic auth past the budget: %d %s", w.Code, w.Body)
	}
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, k.Secret)); w.Code != 204 {
		t.Fatalf("right login past the budget: %d %s", w.Code, w.Body)
	}

	// Another address has its own budget and its failures count.
	if w := e.do(other, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong")); w.Code != 401 {
		t.Fatalf("other address: %d %s", w.Code, w.Body)
	}
	if v := e.failures(t, k.ID); v != 1 { // the right login above reset it to 0
		t.Fatalf("victim failed_login_attempts %d, want 1", v)
	}

	// One refill period gives one more counted attempt.
	e.clock.Add(time.Minute)
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong")); w.Code != 401 {
		t.Fatalf("after a refill: %d %s", w.Code, w.Body)
	}
	if w := e.do(attacker, "POST", "/v1/login", "", "", loginBody(k.ID, "wrong")); w.Code != 429 {
		t.Fatalf("after the refilled token: %d %s", w.Code, w.Body)
	}
	if v := e.failures(t, k.ID); v != 2 {
		t.Fatalf("victim failed_login_attempts %d, want 2", v)
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

	// A failure still counts, and the next success resets the count (with
	// the login.success event of a real login).
	if w := e.do("192.0.2.1", "GET", "/v1/accounts", e.admin.ID, "wrong", ""); w.Code != 401 {
		t.Fatalf("wrong: %d", w.Code)
	}
	if n := e.failures(t, e.admin.ID); n != 1 {
		t.Fatalf("failed_login_attempts = %d, want 1", n)
	}
	if w := e.do("192.0.2.1", "GET", "/v1/accounts", e.admin.ID, e.admin.Secret, ""); w.Code != 200 {
		t.Fatalf("GET: %d", w.Code)
	}
	if n := e.failures(t, e.admin.ID); n != 0 {
		t.Fatalf("failed_login_attempts = %d after a success, want 0", n)
	}
}
