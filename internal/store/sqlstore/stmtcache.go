package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmtCache keeps the queries of one pool prepared, so that a statement is
// parsed once per connection instead of at every call (with SQLite, parsing
// costs as much as running most of these queries).
//
// It prepares lazily but never inside a transaction: a query first run in a
// transaction runs unprepared and is noted; the next transaction on the pool
// prepares the noted queries before it begins, while it holds no connection
// (the SQLite writer pool has one connection, which its transaction holds).
// database/sql then prepares a statement once on each connection it runs on
// and reuses it there.
type stmtCache struct {
	db      *sql.DB
	stmts   sync.Map // query -> *sql.Stmt
	mu      sync.Mutex
	wanted  map[string]bool
	pending atomic.Bool // wanted is not empty
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, wanted: map[string]bool{}}
}

// get returns the prepared statement of q, or nil (and notes q) if there is none yet.
func (c *stmtCache) get(q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if v, ok := c.stmts.Load(q); ok {
		st, _ := v.(*sql.Stmt)
		return st
	}
	c.mu.Lock()
	c.wanted[q] = true
	c.pending.Store(true)
	c.mu.Unlock()
	return nil
}

// prepare prepares the noted queries. The caller must hold no connection of
// the pool. A query that fails to prepare is noted again at its next run.
func (c *stmtCache) prepare(ctx context.Context) {
	if c == nil || !c.pending.Load() {
		return
	}
	c.mu.Lock()
	var qs []string
	for q := range c.wanted {
		qs = append(qs, q)
	}
	clear(c.wanted)
	c.pending.Store(false)
	c.mu.Unlock()
	for _, q := range qs {
		if _, ok := c.stmts.Load(q); ok {
			continue
		}
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		if _, loaded := c.stmts.LoadOrStore(q, st); loaded {
			_ = st.Close()
		}
	}
}

// close closes the prepared statements.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.stmts.Range(func(q, v any) bool {
		if st, ok := v.(*sql.Stmt); ok {
			_ = st.Close()
		}
		c.stmts.Delete(q)
		return true
	})
}
