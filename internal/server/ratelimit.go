package server

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the failed-login throttle. The burst sits below the default
// lockout threshold (5); network logins never lock an account anyway.
const (
	DefaultFailedLoginBurst      = 3
	DefaultFailedLoginBackoff    = time.Minute
	DefaultFailedLoginMaxBackoff = time.Hour
	DefaultFailedLoginClients    = 100000
)

// RateLimit throttles failed logins over the network (POST /v1/login and the
// Basic auth of admin calls) per client address and account: after Burst
// failures of one address at one account, that address must wait Backoff
// before its next attempt at that account, then twice as long after each
// further failure, up to MaxBackoff. While it waits, every attempt gets 429
// with Retry-After without being checked, whether the secret is right or
// wrong, so nothing can be learned past the limit. A success forgets the
// address's failures at that account. Network logins never count toward an
// account's lockout (the domain's NetworkLogin), so an anonymous caller can
// neither guess a secret nor lock anyone out.
//
// The client address is the TCP peer (http.Request.RemoteAddr), unless the
// peer is one of TrustedProxies: then it is the last address of
// X-Forwarded-For that is not a trusted proxy.
type RateLimit struct {
	// Burst is how many failed logins an address may make at one account
	// before the backoff starts; 0 means DefaultFailedLoginBurst.
	Burst int
	// Backoff is the first wait; 0 means DefaultFailedLoginBackoff.
	Backoff time.Duration
	// MaxBackoff bounds the doubling; 0 means DefaultFailedLoginMaxBackoff.
	MaxBackoff time.Duration
	// MaxClients bounds the number of (address, account) pairs tracked; 0
	// means DefaultFailedLoginClients. When full, pairs whose wait is over
	// are forgotten first, then the one seen least recently.
	MaxClients int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed.
	TrustedProxies []netip.Prefix
	// Disabled turns the throttle off (tests and benchmarks only).
	Disabled bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ParseTrustedProxy parses a --trusted-proxy value: an address or a CIDR.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR such as 10.0.0.0/8", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR such as 10.0.0.0/8", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// limiter is a bounded map of failure records, one per (address, account).
type limiter struct {
	burst   int
	backoff time.Duration
	maxWait time.Duration
	max     int
	proxies []netip.Prefix
	now     func() time.Time
	off     bool
	mu      sync.Mutex
	entries map[string]*failures
}

// failures is one address's failed logins at one account.
type failures struct {
	n     int       // failed logins since the last success
	until time.Time // no attempt before this time
	last  time.Time // when last seen
}

func newLimiter(c RateLimit) *limiter {
	l := &limiter{burst: c.Burst, backoff: c.Backoff, maxWait: c.MaxBackoff, max: c.MaxClients,
		proxies: c.TrustedProxies, now: c.Now, off: c.Disabled, entries: map[string]*failures{}}
	if l.burst <= 0 {
		l.burst = DefaultFailedLoginBurst
	}
	if l.backoff <= 0 {
		l.backoff = DefaultFailedLoginBackoff
	}
	if l.maxWait <= 0 {
		l.maxWait = DefaultFailedLoginMaxBackoff
	}
	l.maxWait = max(l.maxWait, l.backoff)
	if l.max <= 0 {
		l.max = DefaultFailedLoginClients
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// clientAddr is the client's IP: the TCP peer's, or, when the peer is a
// trusted proxy, the last X-Forwarded-For address that is not one.
func (l *limiter) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(l.proxies) == 0 {
		return host
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !l.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Garbage from a client: the proxy's own view ends here.
			return host
		}
		if !l.trusted(a) {
			return a.Unmap().String()
		}
		host = a.Unmap().String()
	}
	return host
}

func (l *limiter) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func limitKey(addr, account string) string { return addr + "\x00" + account }

// wait returns how long addr must still wait before an attempt at account,
// or 0 when it may try.
func (l *limiter) wait(addr, account string) time.Duration {
	if l.off {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entries[limitKey(addr, account)]
	if f == nil {
		return 0
	}
	now := l.now()
	f.last = now
	if now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

// fail records a failed login of addr at account and starts or doubles the
// backoff once the burst is spent.
func (l *limiter) fail(addr, account string) {
	if l.off {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := limitKey(addr, account)
	f := l.entries[k]
	if f == nil {
		if len(l.entries) >= l.max {
			l.evict(now)
		}
		f = &failures{}
		l.entries[k] = f
	}
	f.n++
	f.last = now
	if over := f.n - l.burst; over >= 0 {
		d := l.maxWait
		if over < 32 {
			d = min(l.maxWait, l.backoff<<over)
		}
		f.until = now.Add(d)
	}
}

// succeed forgets addr's failures at account.
func (l *limiter) succeed(addr, account string) {
	if l.off {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, limitKey(addr, account))
}

// evict drops the records that no longer hold anything (their wait is over
// and a full MaxBackoff has passed since), and when none has, the one seen
// least recently.
func (l *limiter) evict(now time.Time) {
	var (
		oldest   string
		oldestAt time.Time
	)
	for k, f := range l.entries {
		if now.Sub(f.until) > l.maxWait && now.Sub(f.last) > l.maxWait {
			delete(l.entries, k)
			continue
		}
		if oldest == "" || f.last.Before(oldestAt) {
			oldest, oldestAt = k, f.last
		}
	}
	if len(l.entries) >= l.max && oldest != "" {
		delete(l.entries, oldest)
	}
}

// size is the number of tracked pairs, for tests.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}
