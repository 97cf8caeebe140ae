package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlstore"
)

// changesChannel is the channel every write transaction NOTIFYs at its end.
const changesChannel = "apphost_changes"

// pgStore is the SQL store with a listener of the changes channel, started
// when the first waiter comes.
type pgStore struct {
	*sqlstore.Store
	cfg *pgx.ConnConfig

	mu      sync.Mutex
	started bool
	count   uint64        // notifications seen (and reconnections: a gap may hide one)
	changed chan struct{} // closed and replaced at each notification
	stop    context.CancelFunc
	done    chan struct{}
}

var _ store.Watcher = (*pgStore)(nil)

func newPGStore(s *sqlstore.Store, cfg *pgx.ConnConfig) *pgStore {
	return &pgStore{Store: s, cfg: cfg, changed: make(chan struct{})}
}

// ChangeToken implements store.Watcher: the number of notifications seen.
// The first call starts the listener and waits until it listens, so no
// change after it is missed.
func (s *pgStore) ChangeToken(ctx context.Context) (uint64, error) {
	if err := s.start(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, nil
}

// WaitChange implements store.Watcher.
func (s *pgStore) WaitChange(ctx context.Context, token uint64, timeout time.Duration) error {
	if err := s.start(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	if s.count != token {
		s.mu.Unlock()
		return nil
	}
	ch := s.changed
	s.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-ch:
	}
	return nil
}

// start connects the listener once.
func (s *pgStore) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil
	}
	conn, err := s.listen(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.started, s.stop, s.done = true, cancel, make(chan struct{})
	go s.loop(lctx, conn)
	return nil
}

func (s *pgStore) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL change listener: %w", classify(err))
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("PostgreSQL change listener: %w", classify(err))
	}
	return conn, nil
}

// loop counts notifications until the store closes; a lost connection is
// counted as a change (one may have been missed) and connected again.
func (s *pgStore) loop(ctx context.Context, conn *pgx.Conn) {
	defer close(s.done)
	for {
		_, err := conn.WaitForNotification(ctx)
		s.bump()
		if err == nil {
			continue
		}
		_ = conn.Close(context.Background())
		for {
			if ctx.Err() != nil {
				return
			}
			if conn, err = s.listen(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *pgStore) bump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	close(s.changed)
	s.changed = make(chan struct{})
}

// Close stops the listener and closes the store.
func (s *pgStore) Close() error {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return s.Store.Close()
}
