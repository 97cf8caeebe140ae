package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlstore"
)

// watchPoll is how often a waiter reads PRAGMA data_version: a read of the
// WAL index in shared memory, no I/O.
const watchPoll = 10 * time.Millisecond

// sqliteStore is the SQL store with a watcher of the file.
type sqliteStore struct {
	*sqlstore.Store
	mu    sync.Mutex // one waiter reads the watch connection at a time
	watch *sql.DB    // one connection: data_version is per connection
}

var _ store.Watcher = (*sqliteStore)(nil)

// ChangeToken implements store.Watcher: PRAGMA data_version, which changes
// whenever another connection (of this process or another) commits.
func (s *sqliteStore) ChangeToken(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v uint64
	if err := s.watch.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read SQLite data_version: %w", classify(err))
	}
	return v, nil
}

// WaitChange implements store.Watcher.
func (s *sqliteStore) WaitChange(ctx context.Context, token uint64, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(watchPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return nil
		case <-tick.C:
		}
		v, err := s.ChangeToken(ctx)
		if err != nil || v != token {
			return err
		}
	}
}

// Close closes the watch connection and the store.
func (s *sqliteStore) Close() error {
	_ = s.watch.Close()
	return s.Store.Close()
}
