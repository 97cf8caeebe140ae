package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/server"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/postgres"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

// Environment variables of the PostgreSQL tests.
const (
	// EnvPostgresDSN names a PostgreSQL database the tests may create schemas in.
	EnvPostgresDSN = "APPHOST_TEST_POSTGRES_DSN"
	// EnvRequirePostgres=1 turns a missing DSN from a skip into a failure (CI).
	EnvRequirePostgres = "APPHOST_REQUIRE_POSTGRES"
)

// AdminName is the name of the admin account the helpers bootstrap.
const AdminName = "admin"

// Admin is an admin account's credentials.
type Admin struct {
	ID, Secret string
}

// SQLiteStore returns a fresh "sqlite:PATH" store string in t's temp dir.
func SQLiteStore(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "apphost.db")
}

// PostgresStore returns a store string for a fresh schema of the database at
// $APPHOST_TEST_POSTGRES_DSN, dropped when t ends. It skips t when the
// variable is unset, unless APPHOST_REQUIRE_POSTGRES=1.
func PostgresStore(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatalf("%s=1 but %s is not set", EnvRequirePostgres, EnvPostgresDSN)
		}
		t.Skipf("%s is not set", EnvPostgresDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", EnvPostgresDSN, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "apphost_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
			return
		}
		defer func() { _ = c.Close(context.Background()) }()
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, dsn, schema)
}

// withSearchPath points every connection of dsn at schema.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("%s is not a valid URL", EnvPostgresDSN)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	t.Fatalf("%s must be a postgres:// URL (the --store form)", EnvPostgresDSN)
	return ""
}

// Open opens store with embedded.Open (the key file beside a SQLite store, or
// keyFile) and closes it when t ends.
func Open(t testing.TB, store, keyFile string) *core.Service {
	t.Helper()
	svc, _ := openWithKey(t, store, keyFile)
	return svc
}

func openWithKey(t testing.TB, storeSpec, keyFile string) (*core.Service, string) {
	t.Helper()
	switch {
	case keyFile != "":
	case strings.HasPrefix(storeSpec, "sqlite:"):
		keyFile = strings.TrimPrefix(storeSpec, "sqlite:") + ".key"
	default:
		keyFile = filepath.Join(t.TempDir(), "apphost.key")
	}
	svc, err := embedded.Open(context.Background(), embedded.Config{Store: storeSpec, KeyFile: keyFile})
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc, keyFile
}

// Target is a backend under the contract suite, with a way around its API
// for the one thing the API refuses on purpose.
type Target struct {
	backend.Backend
	// PlantStale stores a stale copy of a secret as the app secret
	// (appID, name) bound to accountID, straight into the store, as a wrong
	// order of hand steps would leave it. Nil skips the tests that need it.
	PlantStale func(t *testing.T, appID, name, accountID string)
}

// Embedded returns the domain in-process over a fresh store.
func Embedded(t *testing.T, storeSpec string) Target {
	t.Helper()
	svc, keyFile := openWithKey(t, storeSpec, "")
	return Target{Backend: svc, PlantStale: planter(storeSpec, keyFile)}
}

// planter writes through a second handle on the store, sealed with its key.
func planter(storeSpec, keyFile string) func(t *testing.T, appID, name, accountID string) {
	return func(t *testing.T, appID, name, accountID string) {
		t.Helper()
		var st store.Store
		var err error
		if path, ok := strings.CutPrefix(storeSpec, "sqlite:"); ok {
			st, err = sqlite.Open(path)
		} else {
			st, err = postgres.Open(context.Background(), storeSpec)
		}
		if err != nil {
			t.Fatalf("opening the store to plant a stale secret: %v", err)
		}
		defer func() { _ = st.Close() }()
		box, err := secretbox.LoadOrCreate(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		plantStale(t, st, box, appID, name, accountID)
	}
}

// plantStale stores a stale secret as the app secret, sealed with box.
func plantStale(t *testing.T, st store.Store, box *secretbox.Box, appID, name, accountID string) {
	t.Helper()
	ctx := context.Background()
	err := st.Write(ctx, func(tx store.Tx) error {
		return tx.PutAppSecret(ctx, store.AppSecretRow{
			AppID: appID, Name: name, AccountID: accountID,
			Ciphertext: box.Seal([]byte("ahk_a-stale-copy-of-an-old-secret")), UpdatedAt: time.Now(),
		})
	})
	if err != nil {
		t.Fatalf("planting a stale secret: %v", err)
	}
}

// Over returns the domain in-process over st (any store.Store, such as the
// in-memory one), sealing with a fresh key; stale secrets are planted
// through st itself. st is closed when t ends.
func Over(t *testing.T, st store.Store) Target {
	t.Helper()
	var key [secretbox.KeySize]byte
	_, _ = rand.Read(key[:])
	box, err := secretbox.New(key[:])
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(st, box, core.Options{})
	t.Cleanup(func() { _ = svc.Close() })
	return Target{Backend: svc, PlantStale: func(t *testing.T, appID, name, accountID string) {
		t.Helper()
		plantStale(t, st, box, appID, name, accountID)
	}}
}

// Bootstrap creates the admin account on svc, as serve does on an empty store.
func Bootstrap(t testing.TB, svc *core.Service) Admin {
	t.Helper()
	a := Admin{ID: uuid.NewString(), Secret: rand.Text() + rand.Text()}
	if _, err := svc.CreateAdminAccount(context.Background(), a.ID, AdminName, a.Secret); err != nil {
		t.Fatalf("creating the admin account: %v", err)
	}
	return a
}

// Serve serves svc over HTTP on loopback until t ends and returns its URL.
func Serve(t *testing.T, svc backend.Backend) string {
	t.Helper()
	h := server.New(server.Config{
		Backend: svc,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Every test client is 127.0.0.1, and the contract suite's lockout
		// tests fail logins on purpose: a budget no test reaches. The limit
		// itself is tested in internal/server.
		FailedLogins: server.RateLimit{Burst: 1 << 20},
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout = server.ReadHeaderTimeout
	srv.Config.MaxHeaderBytes = server.MaxHeaderBytes
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// NewClient returns a client of the server at endpoint, closed when t ends.
func NewClient(t *testing.T, endpoint string, admin Admin) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		Endpoint:     endpoint,
		APIKeyID:     admin.ID,
		APIKeySecret: admin.Secret,
		UserAgent:    "apphost-backendtest",
		RetryWaitMin: 10 * time.Millisecond,
		RetryWaitMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Remote returns a client of a server over a fresh store: the remote backend
// of the contract suite.
func Remote(t *testing.T, storeSpec string) Target {
	t.Helper()
	svc, keyFile := openWithKey(t, storeSpec, "")
	admin := Bootstrap(t, svc)
	return Target{Backend: NewClient(t, Serve(t, svc), admin), PlantStale: planter(storeSpec, keyFile)}
}

// Do sends one raw API request with admin's credentials (nil for none).
func Do(t *testing.T, method, target string, admin *Admin, body io.Reader, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json") // as the client sends it
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if admin != nil {
		req.SetBasicAuth(admin.ID, admin.Secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}
