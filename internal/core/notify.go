package core

import (
	"context"
	"sync"
	"time"
)

// notifier wakes the goroutines of this Service that wait for a change
// (a rotation waiting for a report, a host's long poll) at each commit.
type notifier struct {
	mu    sync.Mutex
	count uint64
	ch    chan struct{}
}

func (n *notifier) token() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.count
}

// changed returns a channel closed at the first commit after token, and
// whether one came already.
func (n *notifier) changed(token uint64) (<-chan struct{}, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.count != token {
		return nil, true
	}
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch, false
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.count++
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// changeToken is taken before a read whose outcome a waiter waits to change.
type changeToken struct{ store, local uint64 }

func (s *Service) changeToken(ctx context.Context) changeToken {
	t := changeToken{local: s.local.token()}
	if s.watcher != nil {
		t.store, _ = s.watcher.ChangeToken(ctx) // on error, waitChange waits out its timeout
	}
	return t
}

// waitChange returns when the store changed after token was taken (a
// commit of this Service, or with a Watcher store, of any process), when
// timeout passed, or when ctx ends (its error).
func (s *Service) waitChange(ctx context.Context, token changeToken, timeout time.Duration) error {
	if timeout <= 0 {
		return ctx.Err()
	}
	local, done := s.local.changed(token.local)
	if done {
		return nil
	}
	if s.watcher == nil {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-local:
		case <-t.C:
		}
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-local:
			cancel()
		case <-wctx.Done():
		}
	}()
	err := s.watcher.WaitChange(wctx, token.store, timeout)
	if err != nil && ctx.Err() == nil {
		return nil // woken by a local commit
	}
	return err
}
