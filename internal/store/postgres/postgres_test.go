package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/postgres"
	"github.com/apphost/terraform-provider-apphost/internal/store/storetest"
)

// baseDSN is the test database, or skips the test (fails it when
// APPHOST_REQUIRE_POSTGRES=1, as CI sets). scripts/postgres.sh starts one.
func baseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("APPHOST_TEST_POSTGRES_DSN")
	if dsn == "" {
		msg := "APPHOST_TEST_POSTGRES_DSN is not set; start a database with: eval \"$(scripts/postgres.sh start /tmp/apphost-pg)\""
		if os.Getenv("APPHOST_REQUIRE_POSTGRES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn
}

// freshSchema creates an empty schema, dropped after the test, and returns a
// DSN whose search_path selects it: each test gets its own tables.
func freshSchema(t testing.TB) string {
	t.Helper()
	dsn := baseDSN(t)
	schema := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " search_path=" + schema // key=value form
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, dsn string) store.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	baseDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, freshSchema(t)) })
}

// TestTwoServers writes through two stores on one database, as two server
// processes would.
func TestTwoServers(t *testing.T) {
	dsn := freshSchema(t)
	storetest.Concurrent(t, open(t, dsn), open(t, dsn))
}

// TestWatch: a server sees another server's commit through LISTEN/NOTIFY.
func TestWatch(t *testing.T) {
	dsn := freshSchema(t)
	storetest.Watch(t, open(t, dsn), open(t, dsn))
}

// TestConcurrentOpen starts several "servers" at once on an empty database:
// the migration lock lets exactly one create the schema.
func TestConcurrentOpen(t *testing.T) {
	dsn := freshSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestSchemaNewer(t *testing.T) {
	dsn := freshSchema(t)
	s := open(t, dsn)
	_ = s.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(context.Background(), dsn)
	if !errors.Is(err, store.ErrSchemaNewer) {
		t.Fatalf("Open = %v, want ErrSchemaNewer", err)
	}
	for _, want := range []string{"999", "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
}

// TestUnreachable needs no server: a refused connection is ErrUnavailable.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = postgres.Open(ctx, fmt.Sprintf("postgres://nobody@%s/none?sslmode=disable&connect_timeout=5", addr))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open = %v, want ErrUnavailable", err)
	}
	t.Log(err)
}

func TestInvalidDSN(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://%zz")
	if err == nil || !strings.Contains(err.Error(), "connection string") {
		t.Fatalf("Open = %v, want an invalid connection string error", err)
	}
}

// BenchmarkWatchLatency: how long a server waiting for another's commit
// takes to notice it (LISTEN/NOTIFY).
func BenchmarkWatchLatency(b *testing.B) {
	dsn := freshSchema(b)
	storetest.WatchLatency(b, open(b, dsn), open(b, dsn))
}
