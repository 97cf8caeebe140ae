package server

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterIsBounded: a flood of addresses cannot grow the map past
// MaxClients, and the addresses still limited are the last ones kept.
func TestLimiterIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(RateLimit{Burst: 1, Refill: time.Hour, MaxClients: 100, Now: func() time.Time { return now }})
	for i := range 10_000 {
		now = now.Add(time.Millisecond)
		if ok, _ := l.take(fmt.Sprintf("10.0.%d.%d", i/256, i%256)); !ok {
			t.Fatalf("address %d refused on its first failure", i)
		}
		if n := l.size(); n > 100 {
			t.Fatalf("%d addresses tracked, limit 100", n)
		}
	}
	last := fmt.Sprintf("10.0.%d.%d", 9999/256, 9999%256)
	if ok, wait := l.take(last); ok || wait <= 0 {
		t.Errorf("the last address was forgotten: ok %v, wait %v", ok, wait)
	}
	// Refilled buckets are dropped first.
	now = now.Add(2 * time.Hour)
	l.take("fresh")
	if n := l.size(); n != 1 {
		t.Errorf("%d addresses tracked after every bucket refilled, want 1", n)
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}
