package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

func TestTwoServersParallelRegenerateSQLite(t *testing.T) {
	testTwoServersParallelRegenerate(t, backendtest.SQLiteStore(t))
}

func TestTwoServersParallelRegeneratePostgres(t *testing.T) {
	testTwoServersParallelRegenerate(t, backendtest.PostgresStore(t))
}

// testTwoServersParallelRegenerate runs two servers, each over its own
// embedded.Open of one store, and regenerates one account through both at once
// without idempotency keys: every success must be one rotation, in order.
func testTwoServersParallelRegenerate(t *testing.T, store string) {
	keyFile := filepath.Join(t.TempDir(), "shared.key")
	svcs := []*core.Service{backendtest.Open(t, store, keyFile), backendtest.Open(t, store, keyFile)}
	admin := backendtest.Bootstrap(t, svcs[0])
	var urls []string
	for _, svc := range svcs {
		srv := httptest.NewServer(server.New(server.Config{Backend: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	ctx := context.Background()
	k, err := svcs[1].CreateAccount(ctx, backend.CreateAccountRequest{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	start := lastSeq(t, svcs[0])

	const n = 16
	type result struct {
		status  int
		version int64
		secret  string
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp := backendtest.Do(t, "POST", urls[i%2]+"/v1/accounts/"+k.ID+"/regenerate", &admin, nil, nil)
			var out backend.AccountWithSecret
			_ = json.NewDecoder(resp.Body).Decode(&out)
			results[i] = result{resp.StatusCode, out.SecretVersion, out.Secret}
		})
	}
	wg.Wait()

	var versions []int64
	secrets := map[string]bool{}
	var newest result
	for _, r := range results {
		switch r.status {
		case 200:
			versions = append(versions, r.version)
			secrets[r.secret] = true
			if r.version > newest.version {
				newest = r
			}
		case 503: // the store was busy past its timeout: allowed, but no change
		default:
			t.Errorf("regenerate: status %d", r.status)
		}
	}
	ok := int64(len(versions))
	if ok == 0 {
		t.Fatal("no regenerate succeeded")
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	for i, v := range versions {
		if v != int64(i)+2 {
			t.Fatalf("versions returned %v: want 2..%d, each once", versions, ok+1)
		}
	}
	if len(secrets) != int(ok) {
		t.Errorf("%d successes returned %d distinct secrets", ok, len(secrets))
	}
	for _, svc := range svcs {
		a, err := svc.GetAccount(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.SecretVersion != ok+1 {
			t.Errorf("secret_version %d after %d successful regenerates, want %d", a.SecretVersion, ok, ok+1)
		}
	}
	if err := svcs[0].Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: newest.secret}); err != nil {
		t.Errorf("the newest secret does not log in: %v", err)
	}

	evs, err := svcs[1].ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: start})
	if err != nil {
		t.Fatal(err)
	}
	regenerates := 0
	for i, e := range evs {
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Fatalf("audit seq not strictly increasing: %d after %d", e.Seq, evs[i-1].Seq)
		}
		if e.TargetID == k.ID && e.Action == backend.ActionAccountRegenerate {
			regenerates++
			if e.Actor != backendtest.AdminName {
				t.Errorf("regenerate actor %q", e.Actor)
			}
		}
		if e.TargetID == k.ID && e.Action != backend.ActionAccountRegenerate && e.Action != backend.ActionLoginSuccess {
			t.Errorf("unexpected event %s", e.Action)
		}
	}
	if int64(regenerates) != ok {
		t.Errorf("%d regenerate events for %d successful regenerates", regenerates, ok)
	}
}

func lastSeq(t *testing.T, b backend.Backend) int64 {
	t.Helper()
	evs, err := b.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}
