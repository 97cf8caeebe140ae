package server

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
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
		l.fail(addr, "acct")
		if n := l.size(); n > 100 {
			t.Fatalf("%d pairs tracked, limit 100", n)
		}
	}
	last := fmt.Sprintf("10.0.%d.%d", 9999/256, 9999%256)
	if w := l.wait(last, "acct"); w <= 0 {
		t.Errorf("the last address was forgotten: wait %v", w)
	}
	// Pairs whose wait is long over are dropped first.
	now = now.Add(3 * time.Hour)
	l.fail("fresh", "acct")
	if n := l.size(); n != 1 {
		t.Errorf("%d pairs tracked after every wait ran out, want 1", n)
	}
}

// TestBackoffDoublesToTheCap: 1 min, 2, 4, ... up to the cap.
func TestBackoffDoublesToTheCap(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(RateLimit{Burst: 1, Now: func() time.Time { return now }})
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		l.fail("a", "k")
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
