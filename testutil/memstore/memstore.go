// Package memstore is a store.Store in memory: one map per table, no file,
// no network, no SQL. It is the benchmark's no-I/O floor (the real domain,
// core.Service, over this store: bench/nullprovider), test tooling outside
// the production tree, and it passes the same conformance suite as the
// SQLite and PostgreSQL stores (internal/store/storetest).
//
// Transactions: Write holds the store's lock for the whole transaction, so
// writes are serialized; every change records how to undo it, and a
// transaction that returns an error (or panics) is undone in reverse order.
// Read holds the lock shared, so no write is under way while it runs: it
// sees one consistent snapshot.
//
// A new table is a map in tables (with its entry in newTables) and Tx
// methods that change it through set and del, which keep the undo log.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// secretKey is the primary key of an app secret.
type secretKey struct{ AppID, Name string }

// tables is the whole database, as Save writes it and Load reads it.
type tables struct {
	Accounts   map[string]store.AccountRow // by ID
	Apps       map[string]store.AppRow     // by ID
	AppSecrets map[secretKey]store.AppSecretRow
	Rotations  map[string]store.RotationRow // by ID
	AppHosts   map[string]store.AppHostRow  // by name
	Settings   map[string][]byte
	// Audit holds the events in order: the event with Seq n is Audit[n-1].
	Audit []store.AuditRow
}

func newTables() tables {
	return tables{
		Accounts:   map[string]store.AccountRow{},
		Apps:       map[string]store.AppRow{},
		AppSecrets: map[secretKey]store.AppSecretRow{},
		Rotations:  map[string]store.RotationRow{},
		AppHosts:   map[string]store.AppHostRow{},
		Settings:   map[string][]byte{},
	}
}

// Store is an in-memory store.Store. The zero value is not usable: use New
// or Load.
type Store struct {
	mu      sync.RWMutex
	db      tables
	commits uint64
	closed  bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{db: newTables()} }

// Commits returns how many write transactions have committed since New or
// Load: a caller that keeps the store between processes saves it only when
// this is not 0.
func (s *Store) Commits() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.commits
}

// Close implements store.Store: later transactions fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var (
	errClosed   = fmt.Errorf("%w: the in-memory store is closed", store.ErrUnavailable)
	errReadOnly = errors.New("in-memory store: a write in a read-only transaction")
	errEnded    = errors.New("in-memory store: the transaction has ended")
)

// Write implements store.Store.
func (s *Store) Write(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, true, fn)
}

// Read implements store.Store.
func (s *Store) Read(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, false, fn)
}

// run runs fn in a transaction under the lock (held shared by a read) and
// undoes its changes unless fn returns nil.
func (s *Store) run(ctx context.Context, write bool, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin in-memory transaction: %w", err)
	}
	if write {
		s.mu.Lock()
		defer s.mu.Unlock()
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	if s.closed {
		return errClosed
	}
	t := &tx{db: &s.db, write: write}
	committed := false
	defer func() {
		t.ended = true
		if !committed { // an error or a panic
			t.rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	if write {
		s.commits++
	}
	return nil
}

// tx is one transaction over the store's tables.
type tx struct {
	db    *tables
	write bool
	ended bool
	// undo holds, in the order of the changes, how to take each back.
	undo []func()
}

// rollback takes back every change of the transaction, the last first.
func (t *tx) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.undo = nil
}

// check says whether the transaction may read, or with write also change,
// the tables.
func (t *tx) check(write bool) error {
	switch {
	case t.ended:
		return errEnded
	case write && !t.write:
		return errReadOnly
	}
	return nil
}

// set stores v at k in m and logs how to undo it.
func set[K comparable, V any](t *tx, m map[K]V, k K, v V) {
	old, had := m[k]
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
	m[k] = v
}

// del deletes k from m and logs how to undo it.
func del[K comparable, V any](t *tx, m map[K]V, k K) {
	old, had := m[k]
	if !had {
		return
	}
	t.undo = append(t.undo, func() { m[k] = old })
	delete(m, k)
}

// notFound is the error of a missing row, naming it.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
}

// conflict is the error of a taken unique key, naming it.
func conflict(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrConflict)
}

// stamp keeps a time as the SQL stores return it: UTC, microseconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// stampOrZero is stamp that keeps the zero time zero.
func stampOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return stamp(t)
}

// previous copies an account's previous secrets; none reads back nil.
func previous(p []store.PreviousSecret) []store.PreviousSecret {
	if len(p) == 0 {
		return nil
	}
	out := slices.Clone(p)
	for i := range out {
		out[i].Hash = bytes.Clone(out[i].Hash)
		out[i].ReplacedAt = stamp(out[i].ReplacedAt)
	}
	return out
}

// names copies a list of names; empty reads back nil, as from the SQL stores.
func names(n []string) []string {
	if len(n) == 0 {
		return nil
	}
	return slices.Clone(n)
}

// notNil stores a nil slice as empty, as the SQL stores' NOT NULL columns do.
func notNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return bytes.Clone(b)
}

// config copies an app's config; nil reads back empty, as from the SQL stores.
func config(c map[string]string) map[string]string {
	if c == nil {
		return map[string]string{}
	}
	return maps.Clone(c)
}
