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
	// DefaultFailedLoginMaxBytes bounds the throttle's memory: its records
	// are counted at their keys' length plus limiterEntryOverhead.
	DefaultFailedLoginMaxBytes = 32 << 20
)

// limiterEntryOverhead is what one record costs besides its key's bytes: the
// map slot, the string header and the failures struct, rounded up.
const limiterEntryOverhead = 160

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
// A guess counts at the moment it is checked, in the order the checks are
// made, so guesses sent together on many connections are no way past the
// burst: once the burst is spent, the outcome of every check still running
// is discarded unseen (429, neither audited nor counted), even a right
// secret's. Only well-formed account IDs are tracked (backend.IsAccountID):
// any other ID can never be right, so it is refused without a record.
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
	// MaxBytes bounds the memory of those pairs the same way; 0 means
	// DefaultFailedLoginMaxBytes.
	MaxBytes int
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
	burst    int
	backoff  time.Duration
	maxWait  time.Duration
	max      int
	maxBytes int
	proxies  []netip.Prefix
	now      func() time.Time
	off      bool
	mu       sync.Mutex
	entries  map[string]*failures
	bytes    int // the cost of entries, by entryCost
}

// failures is one address's failed logins at one account.
type failures struct {
	n     int       // failed logins since the last success
	until time.Time // no attempt before this time
	last  time.Time // when last seen
}

func newLimiter(c RateLimit) *limiter {
	l := &limiter{burst: c.Burst, backoff: c.Backoff, maxWait: c.MaxBackoff, max: c.MaxClients, maxBytes: c.MaxBytes,
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
	if l.maxBytes <= 0 {
		l.maxBytes = DefaultFailedLoginMaxBytes
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
		// A zone is the client's text: it has no place in a record.
		a = a.Unmap().WithZone("")
		if !l.trusted(a) {
			return a.String()
		}
		host = a.String()
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
	return l.waitLocked(l.entries[limitKey(addr, account)], l.now())
}

func (l *limiter) waitLocked(f *failures, now time.Time) time.Duration {
	if f == nil {
		return 0
	}
	f.last = now
	if now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

// settle is called at the moment an attempt of addr at account has been
// checked, with its outcome (ok: the right secret of an account that may log
// in). It reports whether the outcome stands: false when addr must wait by
// now (other attempts, checked first, spent the burst), and then the outcome
// is discarded and nothing is recorded. An outcome that stands is recorded:
// a failure starts or doubles the backoff once the burst is spent, a success
// forgets addr's failures at account.
func (l *limiter) settle(addr, account string, ok bool) bool {
	if l.off {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := limitKey(addr, account)
	f := l.entries[k]
	if l.waitLocked(f, now) > 0 {
		return false
	}
	if ok {
		if f != nil {
			l.remove(k)
		}
		return true
	}
	if f == nil {
		cost := entryCost(k)
		for len(l.entries) > 0 && (len(l.entries) >= l.max || l.bytes+cost > l.maxBytes) {
			l.evict(now)
		}
		f = &failures{}
		l.entries[k] = f
		l.bytes += cost
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
	return true
}

// entryCost is what a record with key k counts toward MaxBytes.
func entryCost(k string) int { return len(k) + limiterEntryOverhead }

func (l *limiter) remove(k string) {
	delete(l.entries, k)
	l.bytes -= entryCost(k)
}

// evict drops the records that no longer hold anything (their wait is over
// and a full MaxBackoff has passed since), and when none has, the one seen
// least recently.
func (l *limiter) evict(now time.Time) {
	var (
		oldest   string
		oldestAt time.Time
		dropped  bool
	)
	for k, f := range l.entries {
		if now.Sub(f.until) > l.maxWait && now.Sub(f.last) > l.maxWait {
			l.remove(k)
			dropped = true
			continue
		}
		if oldest == "" || f.last.Before(oldestAt) {
			oldest, oldestAt = k, f.last
		}
	}
	if !dropped && oldest != "" {
		l.remove(oldest)
	}
}

// size is the number of tracked pairs and their cost in bytes, for tests.
func (l *limiter) size() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries), l.bytes
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}
