// Package sqlite is the embedded store: one SQLite file through the pure-Go
// driver modernc.org/sqlite.
//
// Writes go through one connection whose transactions BEGIN IMMEDIATE, so a
// write takes the file's write lock up front and waits (busy timeout) for
// another process's write instead of failing halfway with SQLITE_BUSY, as a
// deferred transaction that upgrades to a write can. Reads use a small pool of
// their own connections; WAL mode lets them run beside a write, each over one
// snapshot.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlstore"
)

// BusyTimeout is how long a statement waits for another connection's lock
// before the store reports store.ErrUnavailable.
const BusyTimeout = 10 * time.Second

const readConns = 4

// Dialect is SQLite's dialect of sqlstore.
var Dialect = sqlstore.Dialect{
	Name:       "SQLite",
	BlobType:   "BLOB",
	BoolType:   "INTEGER",
	TimeType:   "TEXT",
	NameType:   "TEXT",
	TimeAsText: true,
	// The writer's DSN sets _txlock=immediate.
	BeginWrite: func(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
		return db.BeginTx(ctx, nil)
	},
	ReadOptions:     sql.TxOptions{ReadOnly: true},
	Classify:        classify,
	CacheStatements: true,
}

// Open opens the SQLite store at path, creating the file (mode 0600) and its
// directory (0700) if missing, and migrates its schema.
func Open(path string) (store.Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store path %q: %w", path, err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, err
	}

	// A file: URI keeps a path holding ? or # intact; SQLite ignores the
	// driver's _ parameters.
	base := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()),
			"foreign_keys(1)",
			"journal_mode(WAL)",
			"synchronous(NORMAL)",
		},
	}.Encode()

	write, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, openError(abs, err)
	}
	// One writer connection per process: writers queue in Go, not on the lock.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)

	ctx, cancel := context.WithTimeout(context.Background(), 2*BusyTimeout)
	defer cancel()
	if err := write.PingContext(ctx); err != nil {
		_ = write.Close()
		return nil, openError(abs, err)
	}

	read, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		_ = write.Close()
		return nil, openError(abs, err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)

	s, err := sqlstore.Open(ctx, Dialect, write, read)
	if err != nil {
		_ = write.Close()
		_ = read.Close()
		if errors.Is(err, store.ErrSchemaNewer) {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
		return nil, openError(abs, err)
	}
	watch, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		_ = s.Close()
		return nil, openError(abs, err)
	}
	watch.SetMaxOpenConns(1)
	watch.SetMaxIdleConns(1)
	watch.SetConnMaxIdleTime(0)
	watch.SetConnMaxLifetime(0)
	return &sqliteStore{Store: s, watch: watch}, nil
}

// prepareFile creates the directory and an empty file with private modes, so
// that SQLite (which would use 0644) never creates them.
func prepareFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the directory of the store %s: %w; create it or set store_path (APPHOST_STORE_PATH) to a writable location", path, err)
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("store path %s is a directory; set store_path (APPHOST_STORE_PATH) to a database file inside it, such as %s", path, filepath.Join(path, "apphost.db"))
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("cannot access the store %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil // another process created it first
	}
	if err != nil {
		return fmt.Errorf("cannot create the store %s: %w; check the directory's permissions or set store_path (APPHOST_STORE_PATH) to a writable location", path, err)
	}
	return f.Close()
}

func openError(path string, err error) error {
	return fmt.Errorf("cannot open the SQLite store %s (is it a SQLite database this user can read and write?): %w", path, err)
}

// classify maps SQLite result codes to the store's errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		// A row refers to an app or account that does not exist.
		return fmt.Errorf("%w: a referenced app or account does not exist: %w", store.ErrNotFound, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: the database is locked by another writer (waited up to %s): %w", store.ErrUnavailable, BusyTimeout, err)
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
