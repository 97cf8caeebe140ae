package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

func TestDefaultStore(t *testing.T) {
	t.Setenv(EnvStorePath, "")
	if got := DefaultStore(); got != "sqlite:.apphost/apphost.db" {
		t.Errorf("DefaultStore = %q", got)
	}
	t.Setenv(EnvStorePath, "/tmp/x.db")
	if got := DefaultStore(); got != "sqlite:/tmp/x.db" {
		t.Errorf("DefaultStore = %q", got)
	}
}

func TestOpenSQLiteCreatesStoreAndKey(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sub", "apphost.db")
	ctx := context.Background()
	s, err := Open(ctx, Config{Store: "sqlite:" + db, LockoutThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.CreateApp(ctx, backend.CreateAppRequest{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "k", AccountID: acc.ID, Value: &acc.Secret}); err != nil {
		t.Fatal(err)
	}
	// The threshold is passed on.
	for range 2 {
		_ = s.Login(ctx, backend.LoginRequest{AccountID: acc.ID, Secret: "wrong"})
	}
	if got, _ := s.GetAccount(ctx, acc.ID); !got.Locked {
		t.Error("threshold 2 did not lock after 2 failures")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db + ".key"); err != nil {
		t.Errorf("key file beside the database: %v", err)
	}

	// Reopened with the same key, the stored value opens (a deploy logs in).
	s, err = Open(ctx, Config{Store: "sqlite:" + db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeployApp(ctx, app.ID); err != nil {
		t.Errorf("deploy after reopen: %v", err)
	}
	s.Close()

	// With another key file, the store is refused at Open, before any
	// value is needed (keyfile_test.go has the details).
	_, err = Open(ctx, Config{Store: "sqlite:" + db, KeyFile: filepath.Join(dir, "other.key")})
	if backend.CodeOf(err) != backend.CodeKeyFile {
		t.Errorf("open with another key = %v, want key_file", err)
	}
}

func TestOpenDefaultUsesEnv(t *testing.T) {
	db := filepath.Join(t.TempDir(), "env.db")
	t.Setenv(EnvStorePath, db)
	s, err := Open(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(db); err != nil {
		t.Errorf("store not at $%s: %v", EnvStorePath, err)
	}
}

func TestOpenRejectsUnknownStores(t *testing.T) {
	for _, s := range []string{"mysql://u:hunter2@h/db", "sqlite:", "/plain/path.db", "postgres://u:hunter2@[::1/db"} {
		_, err := Open(context.Background(), Config{Store: s, KeyFile: filepath.Join(t.TempDir(), "k")})
		if err == nil {
			t.Errorf("%q: no error", s)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error echoes the password: %v", s, err)
		}
		if backend.CodeOf(err) != backend.CodeInvalid {
			t.Errorf("%q: code = %q", s, backend.CodeOf(err))
		}
	}
	_, err := Open(context.Background(), Config{Store: "mysql://h/db"})
	if err == nil || !strings.Contains(err.Error(), "sqlite:PATH") || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("error does not name the accepted forms: %v", err)
	}
}

func TestOpenPostgresKeyFileDefault(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "pg.key")
	t.Setenv(EnvKeyFile, key)
	var gotDSN string
	saved := openPostgres
	openPostgres = func(_ context.Context, dsn string) (store.Store, error) {
		gotDSN = dsn
		// No PostgreSQL in this test: a SQLite store stands in for it.
		return sqlite.Open(filepath.Join(dir, "stand-in.db"))
	}
	t.Cleanup(func() { openPostgres = saved })

	svc, err := Open(context.Background(), Config{Store: "postgresql://u:pw@db.example/apphost"})
	if err != nil {
		t.Fatal(err)
	}
	_ = svc.Close()
	if gotDSN != "postgresql://u:pw@db.example/apphost" {
		t.Errorf("dsn = %q", gotDSN)
	}
	if _, err := os.Stat(key); err != nil {
		t.Errorf("key file at $%s: %v", EnvKeyFile, err)
	}
}
