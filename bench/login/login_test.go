// Package login_test benchmarks the server's login path (POST /v1/login),
// the call that apps make all day, in process over httptest: the real handler
// over the SQLite store (and PostgreSQL when APPHOST_TEST_POSTGRES_DSN is
// set), next to a bare net/http handler that only decodes the same body.
package login_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/apphost/terraform-provider-apphost/bench/benchutil"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// clients is the number of concurrent callers, as in the loopback load test.
const clients = 50

func BenchmarkLogin(b *testing.B) {
	b.Run("bare-net-http", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(bareLogin))
		defer srv.Close()
		body, _ := json.Marshal(backend.LoginRequest{AccountID: "00000000-0000-0000-0000-000000000000", Secret: "x"})
		runLogins(b, srv.URL, body)
	})
	b.Run("server-sqlite", func(b *testing.B) {
		svc, err := embedded.Open(b.Context(), embedded.Config{Store: "sqlite:" + filepath.Join(b.TempDir(), "apphost.db")})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = svc.Close() }()
		benchServer(b, svc)
	})
	b.Run("server-postgres", func(b *testing.B) {
		dsn := os.Getenv("APPHOST_TEST_POSTGRES_DSN")
		if dsn == "" {
			b.Skip("APPHOST_TEST_POSTGRES_DSN is not set")
		}
		store, drop, err := benchutil.PostgresSchema(b.Context(), dsn, "apphost_bench_login")
		if err != nil {
			b.Fatal(err)
		}
		defer drop()
		svc, err := embedded.Open(b.Context(), embedded.Config{Store: store, KeyFile: filepath.Join(b.TempDir(), "key")})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = svc.Close() }()
		benchServer(b, svc)
	})
}

// BenchmarkLoginService is the domain's Login alone, without HTTP: what the
// server's handler adds is the difference to BenchmarkLogin/server-sqlite.
func BenchmarkLoginService(b *testing.B) {
	svc, err := embedded.Open(b.Context(), embedded.Config{Store: "sqlite:" + filepath.Join(b.TempDir(), "apphost.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = svc.Close() }()
	acct, err := svc.CreateAccount(b.Context(), backend.CreateAccountRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	req := backend.LoginRequest{AccountID: acct.ID, Secret: acct.Secret}
	// RunParallel runs parallelism x GOMAXPROCS goroutines: clients of them.
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := svc.Login(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

func benchServer(b *testing.B, svc *core.Service) {
	acct, err := svc.CreateAccount(b.Context(), backend.CreateAccountRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	h := server.New(server.Config{Backend: svc, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	body, _ := json.Marshal(backend.LoginRequest{AccountID: acct.ID, Secret: acct.Secret})
	runLogins(b, srv.URL, body)
}

// runLogins posts body to URL/v1/login from clients goroutines.
func runLogins(b *testing.B, url string, body []byte) {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	// RunParallel starts parallelism*GOMAXPROCS goroutines.
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Post(url+"/v1/login", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Errorf("login: HTTP %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// bareLogin is the floor: decode the login body, answer 204.
func bareLogin(w http.ResponseWriter, r *http.Request) {
	var req backend.LoginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.AccountID == "" {
		http.Error(w, `{"code":"invalid"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
