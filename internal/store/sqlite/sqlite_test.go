package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
	"github.com/apphost/terraform-provider-apphost/internal/store/storetest"
)

func open(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "apphost.db"))
	})
}

// TestTwoHandles writes through two stores on one file, as two processes
// (a provider and a serve, or two provider plugins) would.
func TestTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apphost.db")
	storetest.Concurrent(t, open(t, path), open(t, path))
}

// TestWatch: a handle sees another handle's commit through data_version.
func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apphost.db")
	storetest.Watch(t, open(t, path), open(t, path))
}

func TestCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", ".apphost")
	path := filepath.Join(dir, "apphost.db")
	open(t, path)
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	// Reopening keeps the data and the schema.
	s := open(t, path)
	if err := s.Read(context.Background(), func(tx store.Tx) error { _, err := tx.ListAccounts(context.Background()); return err }); err != nil {
		t.Fatal(err)
	}
}

func TestPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #dir%20", "a&b.db")
	open(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestUnopenablePath(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"directory":         dir,
		"parent is a file":  filepath.Join(notDir, "apphost.db"),
		"not a SQLite file": garbage,
	} {
		t.Run(name, func(t *testing.T) {
			s, err := sqlite.Open(path)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the path %s: %v", path, err)
			}
			t.Log(err)
		})
	}
}

func TestSchemaNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apphost.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	_, err = sqlite.Open(path)
	if !errors.Is(err, store.ErrSchemaNewer) {
		t.Fatalf("Open = %v, want ErrSchemaNewer", err)
	}
	for _, want := range []string{"999", "upgrade", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
}

// TestWriteLocksAtBegin checks BEGIN IMMEDIATE: a write transaction that has
// only read so far already holds the write lock, so another process's write
// waits for it instead of slipping in (or failing with SQLITE_BUSY later).
func TestWriteLocksAtBegin(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "apphost.db")
	a, b := open(t, path), open(t, path)
	started, release := make(chan struct{}), make(chan struct{})
	var order []string
	done := make(chan error)
	go func() {
		done <- a.Write(ctx, func(tx store.Tx) error {
			if _, err := tx.ListAccounts(ctx); err != nil {
				return err
			}
			close(started)
			<-release
			order = append(order, "a")
			return nil
		})
	}()
	<-started
	go func() {
		done <- b.Write(ctx, func(tx store.Tx) error {
			order = append(order, "b")
			return tx.InsertAccount(ctx, storetest.NewAccount("b"))
		})
	}()
	select {
	case err := <-done:
		t.Fatalf("second write finished while the first held the lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(order, "") != "ab" {
		t.Errorf("order %v, want a then b", order)
	}
}

// BenchmarkWatchLatency: how long a handle waiting for another's commit
// takes to notice it (data_version read every watchPoll).
func BenchmarkWatchLatency(b *testing.B) {
	path := filepath.Join(b.TempDir(), "apphost.db")
	storetest.WatchLatency(b, open(b, path), open(b, path))
}

// TestUpgradeToOverlap: a store written before overlap rotations (schema
// version 5) is migrated in place: its accounts rotate stop_first with the
// default overlap_period, and hold no pending secret.
func TestUpgradeToOverlap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "apphost.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	acc := storetest.NewAccount("old")
	acc.RotationStrategy, acc.OverlapPeriod = "overlap", time.Minute // dropped below, as a version 5 store never had them
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertAccount(ctx, acc) }); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	// Back to version 5: the columns of migration 6 go.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`ALTER TABLE accounts DROP COLUMN rotation_strategy`, `ALTER TABLE accounts DROP COLUMN overlap_period_ms`,
		`ALTER TABLE accounts DROP COLUMN pending_secret_hash`, `ALTER TABLE accounts DROP COLUMN pending_sealed_secret`,
		`ALTER TABLE apps DROP COLUMN reload`, `ALTER TABLE app_secrets DROP COLUMN pending_version`,
		`ALTER TABLE rotations DROP COLUMN overlap_until`, `UPDATE schema_version SET version = 5`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	_ = db.Close()

	s = open(t, path)
	var got store.AccountRow
	if err := s.Read(ctx, func(tx store.Tx) error {
		var err error
		got, err = tx.GetAccount(ctx, acc.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.RotationStrategy != "stop_first" || got.OverlapPeriod != 15*time.Minute || got.PendingSecretHash != nil || got.PendingSealedSecret != nil {
		t.Errorf("after the upgrade: rotation_strategy %q, overlap_period %s, pending %v; want stop_first, 15m0s, none",
			got.RotationStrategy, got.OverlapPeriod, got.PendingSecretHash)
	}
}
