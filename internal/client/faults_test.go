package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/server"
	"github.com/apphost/terraform-provider-apphost/testutil/faultproxy"
)

// faultsInjected counts the faults of every test in this file, for the log.
var faultsInjected atomic.Int64

// faultEnv is a real server over a fresh SQLite store behind a fault proxy,
// and a client of the proxy.
type faultEnv struct {
	svc   *core.Service
	proxy *faultproxy.Proxy
	c     *client.Client
}

func newFaultEnv(t *testing.T, timeout time.Duration) *faultEnv {
	t.Helper()
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	admin := backendtest.Bootstrap(t, svc)
	srv := httptest.NewServer(server.New(server.Config{Backend: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	p, err := faultproxy.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	c, err := client.New(client.Config{Endpoint: front.URL, APIKeyID: admin.ID, APIKeySecret: admin.Secret,
		RetryMax: 4, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		n := len(p.Faults())
		faultsInjected.Add(int64(n))
		t.Logf("%d faults injected: %v", n, p.Faults())
	})
	return &faultEnv{svc: svc, proxy: p, c: c}
}

// regenerates counts the account's regenerate events in the audit log.
func (e *faultEnv) regenerates(t *testing.T, id string) int {
	t.Helper()
	evs, err := e.svc.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Action == backend.ActionAccountRegenerate && ev.TargetID == id {
			n++
		}
	}
	return n
}

const regeneratePath = "/v1/accounts/*/regenerate"

// TestRegenerateFaults: whatever happens to a regenerate on the way (an error
// status before it, a reset before it, its answer lost after the server did
// it, its answer later than the client's timeout), the client's call returns
// the secret of exactly one rotation, and that secret works.
func TestRegenerateFaults(t *testing.T) {
	cases := []struct {
		name  string
		rules []faultproxy.Rule
		// sent is how many regenerate requests reach the proxy.
		sent int
	}{
		{"two 503s before", []faultproxy.Rule{{Method: "POST", Path: regeneratePath, Kind: faultproxy.Status, Status: 503, Times: 2}}, 3},
		{"502 then 504 before", []faultproxy.Rule{
			{Method: "POST", Path: regeneratePath, Kind: faultproxy.Status, Status: 502},
			{Method: "POST", Path: regeneratePath, Nth: 2, Kind: faultproxy.Status, Status: 504}}, 3},
		{"reset before", []faultproxy.Rule{{Method: "POST", Path: regeneratePath, Kind: faultproxy.Reset}}, 2},
		{"response lost after", []faultproxy.Rule{{Method: "POST", Path: regeneratePath, Kind: faultproxy.DropResponse}}, 2},
		{"response lost twice", []faultproxy.Rule{{Method: "POST", Path: regeneratePath, Kind: faultproxy.DropResponse, Times: 2}}, 3},
		{"503 then response lost", []faultproxy.Rule{
			{Method: "POST", Path: regeneratePath, Kind: faultproxy.Status, Status: 503},
			{Method: "POST", Path: regeneratePath, Nth: 2, Kind: faultproxy.DropResponse}}, 3},
		{"slower than the client timeout", []faultproxy.Rule{{Method: "POST", Path: regeneratePath, Kind: faultproxy.Delay, Delay: 1500 * time.Millisecond}}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newFaultEnv(t, 500*time.Millisecond)
			ctx := context.Background()
			k, err := e.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.rules {
				e.proxy.Add(r)
			}
			got, err := e.c.RegenerateSecret(ctx, backend.RegenerateRequest{ID: k.ID})
			if err != nil {
				t.Fatalf("RegenerateSecret through the faults: %v", err)
			}
			if got.SecretVersion != 2 || got.Secret == "" || got.Secret == k.Secret {
				t.Fatalf("secret_version %d (want 2), new secret %v", got.SecretVersion, got.Secret != "" && got.Secret != k.Secret)
			}
			if n := e.regenerates(t, k.ID); n != 1 {
				t.Fatalf("%d regenerate events, want exactly 1", n)
			}
			if err := e.svc.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: got.Secret}); err != nil {
				t.Fatalf("the returned secret does not log in (it is not the stored one): %v", err)
			}
			reqs := e.proxy.Requests("POST", regeneratePath)
			if len(reqs) != tc.sent {
				t.Errorf("%d regenerate requests, want %d", len(reqs), tc.sent)
			}
			key := reqs[0].Header.Get(backend.IdempotencyKeyHeader)
			for i, r := range reqs {
				if key == "" || r.Header.Get(backend.IdempotencyKeyHeader) != key {
					t.Errorf("request %d has Idempotency-Key %q, want the first one's %q", i, r.Header.Get(backend.IdempotencyKeyHeader), key)
				}
			}
			if a, _ := e.svc.GetAccount(ctx, k.ID); a.SecretVersion != 2 || a.Locked || a.FailedLoginAttempts != 0 {
				t.Errorf("account after: %+v", a)
			}
		})
	}
}

// TestRegenerate500IsNotRetried: a 500 is the server's own failure, not a
// transient one; the call fails, nothing was rotated, and a later call works.
func TestRegenerate500IsNotRetried(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	k, err := e.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	e.proxy.Add(faultproxy.Rule{Method: "POST", Path: regeneratePath, Kind: faultproxy.Status, Status: 500})
	if _, err := e.c.RegenerateSecret(ctx, backend.RegenerateRequest{ID: k.ID}); err == nil {
		t.Fatal("no error from a 500")
	}
	if n := len(e.proxy.Requests("POST", regeneratePath)); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if n := e.regenerates(t, k.ID); n != 0 {
		t.Fatalf("%d regenerates after a 500 before the server, want 0", n)
	}
	if r, err := e.c.RegenerateSecret(ctx, backend.RegenerateRequest{ID: k.ID}); err != nil || r.SecretVersion != 2 {
		t.Fatalf("the next regenerate: %v, %v", r, err)
	}
}

// TestCreateResponseLostIsNotRepeated: a create whose answer was lost is not
// repeated blindly (a repeat would fail on the name, and the shown-once
// secret of the first is gone); the error says the create may have happened
// and what to do. A create that surely never reached the server (503 from
// the proxy, reset before forwarding is indistinguishable from a lost
// answer, so it is not) is retried.
func TestCreateResponseLostIsNotRepeated(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	e.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/accounts", Kind: faultproxy.DropResponse})
	_, err := e.c.CreateAccount(ctx, backend.CreateAccountRequest{Name: "siem"})
	if err == nil {
		t.Fatal("no error although the answer was lost")
	}
	if n := len(e.proxy.Requests("POST", "/v1/accounts")); n != 1 {
		t.Fatalf("the create was sent %d times, want once", n)
	}
	for _, want := range []string{"may have been created", `"siem"`, "import", "apply again", "not repeated"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if _, gerr := e.svc.GetAccountByName(ctx, "siem"); gerr != nil {
		t.Fatalf("the server did not create it (so the test proves nothing): %v", gerr)
	}

	// Same for apps.
	e.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/apps", Kind: faultproxy.Reset})
	if _, err := e.c.CreateApp(ctx, backend.CreateAppRequest{Name: "fwd"}); err == nil || !strings.Contains(err.Error(), "may have been created") {
		t.Fatalf("CreateApp through a reset: %v", err)
	}
	if n := len(e.proxy.Requests("POST", "/v1/apps")); n != 1 {
		t.Fatalf("the app create was sent %d times, want once", n)
	}

	// A 503 answered before the server (a proxy or load balancer) is not
	// retried for a create either: a 503 may come from the server itself
	// after it did the work.
	e.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/apps", Kind: faultproxy.Status, Status: 503})
	if _, err := e.c.CreateApp(ctx, backend.CreateAppRequest{Name: "fwd2"}); backend.CodeOf(err) != backend.CodeUnavailable {
		t.Fatalf("CreateApp through a 503: %v", err)
	}
	if n := len(e.proxy.Requests("POST", "/v1/apps")); n != 2 {
		t.Fatalf("the app create was sent %d times in all, want 2", n)
	}
}

// TestSafeCallsRetryThroughFaults: reads, puts, deploys and deletes are
// repeated through resets and 503s and end where a fault-free run ends.
func TestSafeCallsRetryThroughFaults(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	k, err := e.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := e.svc.CreateApp(ctx, backend.CreateAppRequest{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []faultproxy.Rule{
		{Method: "GET", Path: "/v1/accounts/*", Kind: faultproxy.Reset},
		{Method: "PUT", Path: "/v1/apps/*/secrets/*", Kind: faultproxy.DropResponse},
		{Method: "POST", Path: "/v1/apps/*/deploy", Kind: faultproxy.DropResponse},
		{Method: "POST", Path: "/v1/apps/*/undeploy", Kind: faultproxy.Status, Status: 503, Times: 2},
		{Method: "DELETE", Path: "/v1/apps/*/secrets/*", Kind: faultproxy.Reset},
	} {
		e.proxy.Add(r)
	}
	if _, err := e.c.GetAccount(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "k", AccountID: k.ID, Value: &k.Secret}); err != nil {
		t.Fatal(err)
	}
	if a, err := e.c.DeployApp(ctx, app.ID); err != nil || a.Status != "running" {
		t.Fatalf("deploy: %v %v", a, err)
	}
	if a, err := e.c.UndeployApp(ctx, app.ID); err != nil || a.Deployed {
		t.Fatalf("undeploy: %v %v", a, err)
	}
	if err := e.c.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "k"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.svc.GetAccount(ctx, k.ID); a.FailedLoginAttempts != 0 || a.Locked {
		t.Errorf("the repeated calls caused failed logins: %+v", a)
	}
	if n := len(e.proxy.Faults()); n != 6 {
		t.Errorf("%d faults injected, want 6", n)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if n := faultsInjected.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "faultproxy: %d faults injected in this run\n", n)
	}
	os.Exit(code)
}
