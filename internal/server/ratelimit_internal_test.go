package server

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestLimiterIsBounded: a flood of (address, account) pairs cannot grow the
// map past MaxClients, and the pairs still waiting are the last ones kept.
func TestLimiterIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(RateLimit{Burst: 1, Backoff: time.Minute, MaxBackoff: time.Hour, MaxClients: 100, Now: func() time.Time { return now }})
	for i := range 10_000 {
		now = now.Add(time.Millisecond)
		addr := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		if w := l.wait(addr, "acct"); w != 0 {
			t.Fatalf("address %d waits before its first failure", i)
		}
		l.settle(addr, "acct", false)
		if n, _ := l.size(); n > 100 {
			t.Fatalf("%d pairs tracked, limit 100", n)
		}
	}
	last := fmt.Sprintf("10.0.%d.%d", 9999/256, 9999%256)
	if w := l.wait(last, "acct"); w <= 0 {
		t.Errorf("the last address was forgotten: wait %v", w)
	}
	// Pairs whose wait is long over are dropped first.
	now = now.Add(3 * time.Hour)
	l.settle("fresh", "acct", false)
	if n, _ := l.size(); n != 1 {
		t.Errorf("%d pairs tracked after every wait ran out, want 1", n)
	}
}

// TestBackoffDoublesToTheCap: 1 min, 2, 4, ... up to the cap.
func TestBackoffDoublesToTheCap(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(RateLimit{Burst: 1, Now: func() time.Time { return now }})
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		l.settle("a", "k", false)
		if got := l.wait("a", "k"); got != w {
			t.Fatalf("wait after failure %d = %v, want %v", i+1, got, w)
		}
		now = now.Add(w)
	}
}

// TestTrustedProxy: X-Forwarded-For is believed only from a trusted proxy,
// and then its last untrusted hop is the client.
func TestTrustedProxy(t *testing.T) {
	p, err := ParseTrustedProxy("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(RateLimit{TrustedProxies: []netip.Prefix{p}})
	for _, c := range []struct{ peer, xff, want string }{
		{"192.0.2.1:1", "203.0.113.9", "192.0.2.1"},           // not a proxy: the header is ignored
		{"10.1.1.1:1", "203.0.113.9", "203.0.113.9"},          // the proxy's client
		{"10.1.1.1:1", "1.2.3.4, 203.0.113.9", "203.0.113.9"}, // a client-supplied hop is not believed
		{"10.1.1.1:1", "203.0.113.9, 10.2.2.2", "203.0.113.9"},
		{"10.1.1.1:1", "", "10.1.1.1"},
		{"10.1.1.1:1", "garbage", "10.1.1.1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := l.clientAddr(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	if _, err := ParseTrustedProxy("not-an-address"); err == nil {
		t.Error("a bad --trusted-proxy was accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestLimiterIsBoundedInBytes: long keys (a client address is short, but
// its zone from a trusted proxy's X-Forwarded-For need not be) cannot grow
// the map past MaxBytes, however few pairs that is.
func TestLimiterIsBoundedInBytes(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(RateLimit{Burst: 1, MaxBytes: 64 << 10, Now: func() time.Time { return now }})
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.settle(fmt.Sprintf("10.0.%d.%d-%0900d", i/256, i%256, i), "00000000-0000-4000-8000-000000000000", false)
		if n, b := l.size(); b > 64<<10 || n > 64 {
			t.Fatalf("%d pairs of %d bytes tracked, limit 64 KiB", n, b)
		}
	}
	if n, _ := l.size(); n == 0 {
		t.Fatal("nothing tracked")
	}
}

// TestZoneIsNotAClientAddress: a zone on an X-Forwarded-For address (any
// text a client sends a trusted proxy) is dropped.
func TestZoneIsNotAClientAddress(t *testing.T) {
	p, err := ParseTrustedProxy("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(RateLimit{TrustedProxies: []netip.Prefix{p}})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.1.1:1"
	r.Header.Set("X-Forwarded-For", "fe80::1%"+strings.Repeat("z", 4096))
	if got := l.clientAddr(r); got != "fe80::1" {
		t.Errorf("client address %.40q, want fe80::1", got)
	}
}

// TestConcurrentGuessesCountWhenChecked: the outcome of an attempt admitted
// before the burst was spent, but checked after, does not stand.
func TestConcurrentGuessesCountWhenChecked(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 3})
	const id = "00000000-0000-4000-8000-000000000000"
	for i := range 10 { // all admitted together
		if w := l.wait("a", id); w != 0 {
			t.Fatalf("attempt %d waits before any was checked", i)
		}
	}
	for i := range 3 {
		if !l.settle("a", id, false) {
			t.Fatalf("failure %d of the burst did not stand", i+1)
		}
	}
	if l.settle("a", id, false) || l.settle("a", id, true) {
		t.Error("an outcome checked after the burst was spent stood")
	}
	if l.wait("b", id) != 0 || !l.settle("b", id, true) {
		t.Error("another address is throttled")
	}
}
