package core

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// benchN is the size of the benchmarks' store: N key accounts, N running
// apps and N app secrets, each app bound to its own key, as in `make bench`.
const benchN = 1000

// benchFixture is a store of benchN accounts, apps and secrets on SQLite.
type benchFixture struct {
	s        *Service
	accounts []*backend.AccountWithSecret
	apps     []*backend.App
}

func newBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	st, box, _ := openSQLite(b)
	f := &benchFixture{s: NewService(st, box, Options{})}
	b.Cleanup(func() { _ = f.s.Close() })
	ctx := context.Background()
	for i := range benchN {
		name := fmt.Sprintf("k%04d", i)
		acct, err := f.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: name})
		if err != nil {
			b.Fatal(err)
		}
		app, err := f.s.CreateApp(ctx, backend.CreateAppRequest{Name: name, Deployed: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.s.PutAppSecret(ctx, backend.PutAppSecretRequest{
			AppID: app.ID, Name: "key", AccountID: acct.ID, Value: &acct.Secret,
		}); err != nil {
			b.Fatal(err)
		}
		f.accounts = append(f.accounts, acct)
		f.apps = append(f.apps, app)
	}
	b.ResetTimer()
	return f
}

// BenchmarkGetAccount is the account resource's Read.
func BenchmarkGetAccount(b *testing.B) {
	f := newBenchFixture(b)
	i := 0
	for b.Loop() {
		a, err := f.s.GetAccount(b.Context(), f.accounts[i%benchN].ID)
		if err != nil || len(a.Apps) != 1 {
			b.Fatalf("GetAccount = %+v, %v", a, err)
		}
		i++
	}
}

// BenchmarkGetApp is the app resource's Read.
func BenchmarkGetApp(b *testing.B) {
	f := newBenchFixture(b)
	i := 0
	for b.Loop() {
		if _, err := f.s.GetApp(b.Context(), f.apps[i%benchN].ID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetAppSecret is the app secret resource's Read.
func BenchmarkGetAppSecret(b *testing.B) {
	f := newBenchFixture(b)
	i := 0
	for b.Loop() {
		if _, err := f.s.GetAppSecret(b.Context(), f.apps[i%benchN].ID, "key"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkListAppsBound is the account resource's ModifyPlan for each key
// that rotates: the running apps bound to one key, out of benchN.
func BenchmarkListAppsBound(b *testing.B) {
	f := newBenchFixture(b)
	running := true
	i := 0
	for b.Loop() {
		apps, err := f.s.ListApps(b.Context(), backend.ListAppsRequest{BoundToAccountID: f.accounts[i%benchN].ID, Running: &running})
		if err != nil || len(apps) != 1 {
			b.Fatalf("ListApps = %d apps, %v", len(apps), err)
		}
		i++
	}
}

// BenchmarkRotate is one key of a rotation apply: one transaction that
// undeploys the key's deployed app, regenerates, seals the new secret into
// the bound app secret and deploys the app again (which logs in).
func BenchmarkRotate(b *testing.B) {
	f := newBenchFixture(b)
	i := 0
	for b.Loop() {
		if _, err := f.s.RegenerateSecret(b.Context(), backend.RegenerateRequest{
			ID: f.accounts[i%benchN].ID, IdempotencyKey: fmt.Sprint(i),
		}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLoginParallel is Login from 25 goroutines per GOMAXPROCS (50 on
// this project's 2-core machines) with one key.
func BenchmarkLoginParallel(b *testing.B) {
	st, box, _ := openSQLite(b)
	s := NewService(st, box, Options{})
	defer func() { _ = s.Close() }()
	acct, err := s.CreateAccount(b.Context(), backend.CreateAccountRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	req := backend.LoginRequest{AccountID: acct.ID, Secret: acct.Secret}
	var once sync.Once
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Login(context.Background(), req); err != nil {
				once.Do(func() { b.Error(err) })
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkReportAppHost is one periodic report of an App Host that runs
// benchN apps, none of which changed: what every host costs the store
// every few seconds.
func BenchmarkReportAppHost(b *testing.B) {
	st, box, _ := openSQLite(b)
	s := NewService(st, box, Options{})
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "host-east", AppHost: "east"}); err != nil {
		b.Fatal(err)
	}
	sess, err := s.OpenAppHostSession(ctx, "east", "127.0.0.1:1", hostapi.SessionRequest{InstanceID: "i-1", Driver: "exec"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchN {
		if _, err := s.CreateApp(ctx, backend.CreateAppRequest{Name: fmt.Sprintf("app%04d", i), AppHost: "east", Deployed: true,
			AppRuntime: backend.AppRuntime{Command: []string{"/bin/true"}}}); err != nil {
			b.Fatal(err)
		}
	}
	d, err := s.AppHostDesired(ctx, "east", sess.SessionID, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	rep := hostapi.Report{SessionID: sess.SessionID, Revision: d.Revision}
	for _, a := range d.Apps {
		rep.Apps = append(rep.Apps, hostapi.AppReport{ID: a.ID, Name: a.Name, Generation: a.Generation,
			Phase: hostapi.PhaseRunning, PID: 1000, StartedAt: time.Now(), TokenHash: hostapi.TokenHash(a.Name)})
	}
	if _, err := s.ReportAppHost(ctx, "east", rep); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.ReportAppHost(ctx, "east", rep); err != nil {
			b.Fatal(err)
		}
	}
}
