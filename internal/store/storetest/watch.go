package storetest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// Watch checks that a's Watcher sees a write made through b, another handle
// on the same database (another process, in production), and that without
// a write it waits out its timeout.
func Watch(t *testing.T, a, b store.Store) {
	t.Helper()
	ctx := context.Background()
	w, ok := a.(store.Watcher)
	if !ok {
		t.Fatalf("%T is not a store.Watcher", a)
	}
	before, err := w.ChangeToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WaitChange(ctx, before, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.ChangeToken(ctx); got != before {
		t.Errorf("the token changed without a write: %d -> %d", before, got)
	}
	done := make(chan error, 1)
	go func() { done <- w.WaitChange(ctx, before, time.Minute) }()
	write(t, b, func(tx store.Tx) error { return tx.PutSetting(ctx, "watched", []byte{1}) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after, err := w.ChangeToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("WaitChange returned but the token is still %d: the write through the other handle was not seen", before)
	}
}

// WatchLatency measures how long a's Watcher takes to wake after a commit
// through other (another process, in production): the delay the mechanism
// adds to each wait of a rotation for an App Host (reported as wake-ms/op,
// from the commit's return to the waiter's).
func WatchLatency(b *testing.B, a, other store.Store) {
	ctx := context.Background()
	w, ok := a.(store.Watcher)
	if !ok {
		b.Fatalf("%T is not a store.Watcher", a)
	}
	var total time.Duration
	n := 0
	for b.Loop() {
		before, err := w.ChangeToken(ctx)
		if err != nil {
			b.Fatal(err)
		}
		woke := make(chan time.Time, 1)
		go func() {
			if err := w.WaitChange(ctx, before, time.Minute); err != nil {
				b.Error(err)
			}
			woke <- time.Now()
		}()
		// A report arrives at any moment of a wait, not just as it begins.
		time.Sleep(rand.N(20 * time.Millisecond))
		if err := other.Write(ctx, func(tx store.Tx) error {
			return tx.PutSetting(ctx, "watched", []byte{byte(n)})
		}); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		total += (<-woke).Sub(committed)
		n++
	}
	b.ReportMetric(float64(total)/float64(n)/float64(time.Millisecond), "wake-ms/op")
}
