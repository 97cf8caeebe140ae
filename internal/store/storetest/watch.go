package storetest

import (
	"context"
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
