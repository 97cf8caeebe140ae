package core

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestConsoleSignOutIsBounded: signed-out sessions are remembered until they
// expire, and past maxSignedOut of them per account every session issued
// before the last sign-out is refused instead, so the setting stays small.
func TestConsoleSignOutIsBounded(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	const acct = "00000000-0000-4000-8000-0000000000c1"
	issued := e.clock.Now()
	ended := func(id string, at time.Time) bool {
		t.Helper()
		got, err := e.s.ConsoleSessionEnded(ctx, acct, id, at)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if ended("s-0", issued) {
		t.Fatal("a session ended before any sign-out")
	}
	e.clock.Advance(time.Minute)
	for i := range maxSignedOut + 1 {
		if err := e.s.SignOutConsoleSession(ctx, acct, fmt.Sprintf("s-%d", i), issued.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if !ended("s-0", issued) || !ended(fmt.Sprintf("s-%d", maxSignedOut), issued) {
		t.Error("a signed-out session goes on")
	}
	if !ended("s-other", issued) {
		t.Error("past the bound, a session issued before the last sign-out goes on")
	}
	e.clock.Advance(2 * time.Second)
	if ended("s-new", e.clock.Now()) {
		t.Error("a session issued after the sign-outs ended")
	}
	// Expired entries are dropped at the next sign-out.
	e.clock.Advance(2 * time.Hour)
	if err := e.s.SignOutConsoleSession(ctx, acct, "s-last", e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !ended("s-last", e.clock.Now()) {
		t.Error("the last sign-out did not end its session")
	}
}
