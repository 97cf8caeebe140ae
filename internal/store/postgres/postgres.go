// Package postgres is the store for several server processes on one
// PostgreSQL database, through pgx as a database/sql driver.
//
// Every write transaction first takes one transaction-scoped advisory lock,
// so writes from all processes serialize: a read-modify-write in the domain
// never interleaves with another, and audit sequence numbers follow commit
// order. Reads run REPEATABLE READ READ ONLY: one snapshot, no lock.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlstore"
)

// WriteLockKey is the pg_advisory_xact_lock key every write transaction
// takes ("apphost" in ASCII). Anything else using advisory locks on the same
// database must avoid it.
const WriteLockKey int64 = 0x61707068_6f7374

// Pool sizes. Writes serialize on the lock anyway, so a few writer
// connections suffice; extra writers wait in the pool rather than holding a
// server connection while they wait for the lock.
const (
	writeConns = 4
	readConns  = 10
)

// Dialect is PostgreSQL's dialect of sqlstore.
var Dialect = sqlstore.Dialect{
	Name:     "PostgreSQL",
	Numbered: true,
	BlobType: "BYTEA",
	BoolType: "BOOLEAN",
	TimeType: "TIMESTAMPTZ",
	// Byte order, as SQLite and Go sort, whatever the database's collation.
	NameType:    `TEXT COLLATE "C"`,
	BeginWrite:  beginWrite,
	ReadOptions: sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	Classify:    classify,
	// Delivered at commit, to every server of the store that listens.
	AfterWrite: "NOTIFY " + changesChannel,
}

// beginWrite uses READ COMMITTED: each statement then sees every write
// committed before the lock was granted. (A REPEATABLE READ snapshot would
// be taken by the lock statement itself, before the wait, and miss them.)
func beginWrite(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, WriteLockKey)); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("take the write lock: %w", err)
	}
	return tx, nil
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string) and migrates its schema. Migration runs under the write lock, so
// servers starting together take turns.
func Open(ctx context.Context, dsn string) (store.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL connection string: %w", err)
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)

	write := stdlib.OpenDB(*cfg)
	write.SetMaxOpenConns(writeConns)
	write.SetMaxIdleConns(writeConns)
	write.SetConnMaxIdleTime(5 * time.Minute)
	read := stdlib.OpenDB(*cfg)
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns / 2)
	read.SetConnMaxIdleTime(5 * time.Minute)

	fail := func(err error) (store.Store, error) {
		_ = write.Close()
		_ = read.Close()
		return nil, err
	}
	if err := write.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("cannot connect to PostgreSQL at %s: %w", where, classify(err)))
	}
	s, err := sqlstore.Open(ctx, Dialect, write, read)
	if err != nil {
		return fail(fmt.Errorf("PostgreSQL store at %s: %w", where, err))
	}
	return newPGStore(s, cfg), nil
}

// classify maps SQLSTATEs and connection failures to the store's errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case pe.Code == "23503": // foreign_key_violation
			return fmt.Errorf("%w: a referenced app or account does not exist: %w", store.ErrNotFound, err)
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
			pe.Code == "53300",                     // too_many_connections
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	// A pooled connection whose socket went away fails with "conn closed"
	// (pgconn.ErrConnClosed) before it is used: as transient as a refused dial.
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}
