// Package sqlstore is the one SQL implementation of store.Store, shared by the
// SQLite and PostgreSQL stores. A Dialect carries what differs between them:
// placeholders, column types, how a write transaction begins and serializes,
// and how driver errors map to the store's errors.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// Dialect describes one database engine.
type Dialect struct {
	// Name names the engine in messages, e.g. "SQLite".
	Name string
	// Numbered selects $1, $2, ... placeholders instead of ?.
	Numbered bool
	// Column types substituted into the schema.
	BlobType, BoolType, TimeType, NameType string
	// TimeAsText stores times as fixed-width UTC text (SQLite, which has no
	// time type); otherwise time.Time values are passed to the driver.
	TimeAsText bool
	// BeginWrite starts a transaction that holds the database's write lock
	// (across processes) once it returns.
	BeginWrite func(ctx context.Context, db *sql.DB) (*sql.Tx, error)
	// ReadOptions start a read-only transaction over one snapshot.
	ReadOptions sql.TxOptions
	// Classify wraps a driver error with store.ErrConflict, ErrNotFound or
	// ErrUnavailable where one applies, and returns it unchanged otherwise.
	Classify func(err error) error
	// CacheStatements keeps queries prepared on each connection (for a
	// driver that parses every unprepared query anew, such as SQLite's).
	CacheStatements bool
	// AfterWrite, when set, runs at the end of every write transaction,
	// before its commit (PostgreSQL: NOTIFY, so that other processes learn
	// of the change when it commits).
	AfterWrite string
}

// Store implements store.Store over two pools: writes and reads.
type Store struct {
	d     Dialect
	write *sql.DB
	read  *sql.DB
	// Prepared statements of each pool; nil without Dialect.CacheStatements.
	writeStmts, readStmts *stmtCache
}

var _ store.Store = (*Store)(nil)

// Open migrates the schema to the current version and returns the store.
// write and read may be the same pool; Close closes both.
func Open(ctx context.Context, d Dialect, write, read *sql.DB) (*Store, error) {
	s := &Store{d: d, write: write, read: read}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if d.CacheStatements {
		s.writeStmts = newStmtCache(write)
		s.readStmts = s.writeStmts
		if read != write {
			s.readStmts = newStmtCache(read)
		}
	}
	return s, nil
}

// Close closes the pools.
func (s *Store) Close() error {
	s.writeStmts.close()
	if s.readStmts != s.writeStmts {
		s.readStmts.close()
	}
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	return err
}

// Write implements store.Store.
func (s *Store) Write(ctx context.Context, fn func(store.Tx) error) error {
	s.writeStmts.prepare(ctx)
	sqlTx, err := s.d.BeginWrite(ctx, s.write)
	if err != nil {
		return fmt.Errorf("begin %s write transaction: %w", s.d.Name, s.d.Classify(err))
	}
	return s.run(ctx, sqlTx, s.writeStmts, true, fn)
}

// Read implements store.Store.
func (s *Store) Read(ctx context.Context, fn func(store.Tx) error) error {
	s.readStmts.prepare(ctx)
	opts := s.d.ReadOptions
	sqlTx, err := s.read.BeginTx(ctx, &opts)
	if err != nil {
		return fmt.Errorf("begin %s read transaction: %w", s.d.Name, s.d.Classify(err))
	}
	return s.run(ctx, sqlTx, s.readStmts, false, fn)
}

// run commits when fn returns nil and rolls back otherwise, also on panic, so
// a failed change never leaves half its rows behind.
func (s *Store) run(ctx context.Context, sqlTx *sql.Tx, stmts *stmtCache, write bool, fn func(store.Tx) error) (err error) {
	done := false
	defer func() {
		if !done {
			_ = sqlTx.Rollback()
		}
	}()
	base := &tx{s: s, tx: sqlTx, stmts: stmts}
	var (
		t store.Tx = base
		w *writeTx
	)
	if write {
		w = newWriteTx(base)
		t = w
	}
	if err := fn(t); err != nil {
		return err
	}
	if w != nil {
		if err := w.flush(w.ctx); err != nil {
			return err
		}
		if s.d.AfterWrite != "" {
			if _, err := sqlTx.ExecContext(ctx, s.d.AfterWrite); err != nil {
				return fmt.Errorf("end %s write transaction: %w", s.d.Name, s.d.Classify(err))
			}
		}
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit %s transaction: %w", s.d.Name, s.d.Classify(err))
	}
	return nil
}

// rebind turns ? placeholders into $n for dialects that number them. The
// queries of this package hold no ? other than placeholders.
func (s *Store) rebind(q string) string {
	if !s.d.Numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// timeTextLayout is fixed-width so that text times compare in time order.
const timeTextLayout = "2006-01-02T15:04:05.000000Z"

// encodeTime keeps microseconds, the precision of PostgreSQL, so both stores
// return the same value; PostgreSQL would round, so truncate first.
func (s *Store) encodeTime(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.d.TimeAsText {
		return t.Format(timeTextLayout)
	}
	return t
}

// encodeOptionalTime is encodeTime for a nullable column: the zero time is NULL.
func (s *Store) encodeOptionalTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.encodeTime(t)
}

// timeCol scans a time stored by either dialect, returning it in UTC.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		*c.t = v.UTC()
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	case nil:
		*c.t = time.Time{}
	default:
		return fmt.Errorf("cannot scan %T as a time", v)
	}
	return nil
}

func (c timeCol) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("stored time %q: %w", v, err)
	}
	*c.t = t.UTC()
	return nil
}
