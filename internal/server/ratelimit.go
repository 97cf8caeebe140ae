package server

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the failed-login rate limit. The burst sits below the default
// lockout threshold (5), so one client address alone cannot lock an account
// in one burst; after it, one more failure per refill period.
const (
	DefaultFailedLoginBurst   = 3
	DefaultFailedLoginRefill  = 20 * time.Second
	DefaultFailedLoginClients = 10000
)

// RateLimit bounds failed logins (POST /v1/login and the Basic auth of admin
// calls) per client address, as a token bucket: each failure takes a token,
// tokens come back one per Refill up to Burst. A client with no token left
// gets 429 with Retry-After and its attempt is not made, so it does not count
// toward the account's lockout; right credentials still pass (checked without
// a write), so a guesser behind the same address cannot shut out the owner.
//
// The client address is the TCP peer (http.Request.RemoteAddr): behind a
// reverse proxy every client shares the proxy's budget.
type RateLimit struct {
	// Burst is how many failed logins an address may make at once; 0 means
	// DefaultFailedLoginBurst.
	Burst int
	// Refill is the time for one token to come back; 0 means
	// DefaultFailedLoginRefill.
	Refill time.Duration
	// MaxClients bounds the number of addresses tracked; 0 means
	// DefaultFailedLoginClients. When full, the address seen least recently
	// is forgotten.
	MaxClients int
	// Disabled turns the limit off.
	Disabled bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// limiter is a bounded map of token buckets, one per client address.
type limiter struct {
	burst   float64
	refill  time.Duration
	max     int
	now     func() time.Time
	off     bool
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed, and when the address was last seen
}

func newLimiter(c RateLimit) *limiter {
	l := &limiter{burst: float64(c.Burst), refill: c.Refill, max: c.MaxClients, now: c.Now, off: c.Disabled,
		buckets: map[string]*bucket{}}
	if l.burst <= 0 {
		l.burst = DefaultFailedLoginBurst
	}
	if l.refill <= 0 {
		l.refill = DefaultFailedLoginRefill
	}
	if l.max <= 0 {
		l.max = DefaultFailedLoginClients
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// clientAddr is the IP of the request's peer, without the port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// take reserves one failure for addr. It returns false, and how long until a
// token is back, when addr has none left. A caller whose attempt succeeds
// gives the token back with refund.
func (l *limiter) take(addr string) (bool, time.Duration) {
	if l.off {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[addr] = b
	}
	l.fill(b, now)
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) * float64(l.refill))
		return false, wait
	}
	b.tokens--
	return true, 0
}

// refund gives back a token taken for an attempt that did not fail.
func (l *limiter) refund(addr string) {
	if l.off {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[addr]; b != nil {
		b.tokens = math.Min(l.burst, b.tokens+1)
	}
}

func (l *limiter) fill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(el)/float64(l.refill))
		b.last = now
	}
}

// evict drops the buckets that have refilled (they hold nothing a fresh one
// would not), and when none has, the one seen least recently.
func (l *limiter) evict(now time.Time) {
	var (
		oldest   string
		oldestAt time.Time
	)
	for addr, b := range l.buckets {
		l.fill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, addr)
			continue
		}
		if oldest == "" || b.last.Before(oldestAt) {
			oldest, oldestAt = addr, b.last
		}
	}
	if len(l.buckets) >= l.max && oldest != "" {
		delete(l.buckets, oldest)
	}
}

// size is the number of tracked addresses, for tests.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}
