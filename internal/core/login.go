package core

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// loginResult is the outcome of one login attempt.
type loginResult int

const (
	loginOK loginResult = iota
	loginUnknown
	loginWrongSecret
	loginLocked    // rejected because locked, or locked by this very failure
	loginThrottled // checked, but its gate discarded the outcome: nothing recorded
)

// errLoginFailed is one message for an unknown ID and a wrong secret, so a
// caller cannot probe which IDs exist.
func errLoginFailed() *backend.Error {
	return backend.Errorf(backend.CodeLoginFailed, "wrong API key ID or secret")
}

func errLocked(name string) *backend.Error {
	return backend.Errorf(backend.CodeLocked, "API key account %q is locked after too many failed logins; regenerate its secret to unlock it", name)
}

// Login checks an account's ID and secret. A failure is recorded (and may
// lock the account) even though the call returns an error.
//
// Concurrent logins are committed in groups: every login is one write (its
// audit event), and a write transaction's commit costs far more than a login,
// so the calls that arrive while one group commits form the next group, which
// one of them runs in a single write transaction. Inside it each login is
// still checked and recorded on its own, in arrival order, exactly as it
// would be in a transaction of its own: it sees the failure counts and locks
// of the logins before it and gets its own audit events and sequence numbers.
func (s *Service) Login(ctx context.Context, req backend.LoginRequest) error {
	return s.queueLogin(ctx, req, false)
}

// NetworkLogin is a login over the network (the server's POST /v1/login and
// Basic auth): it is checked and audited like Login, and a success resets the
// failure count, but a failure never counts toward the account's lockout, so
// an anonymous caller cannot lock anyone out. The server throttles failed
// network logins per client address and account instead, through the
// LoginGate of ctx (WithLoginGate).
//
// An ID that is not shaped like an account ID (backend.IsAccountID) is
// refused without a lookup. Failures for IDs that no account has are
// audited one a minute per actor, the others summed up in the next one's
// detail: made-up IDs cannot flood the audit log.
func (s *Service) NetworkLogin(ctx context.Context, req backend.LoginRequest) error {
	return s.queueLogin(ctx, req, true)
}

func (s *Service) queueLogin(ctx context.Context, req backend.LoginRequest, network bool) error {
	if err := validateLogin(req); err != nil {
		return err
	}
	var gate LoginGate
	if network {
		if !backend.IsAccountID(req.AccountID) {
			return s.malformedNetworkLogin(ctx)
		}
		gate = gateFrom(ctx)
	}
	c := &loginCall{actor: ActorFrom(ctx), req: req, network: network, gate: gate, ctx: ctx, wake: make(chan bool, 1)}
	q := &s.logins
	q.mu.Lock()
	q.calls = append(q.calls, c)
	lead := !q.busy
	q.busy = true
	q.mu.Unlock()
	if !lead {
		// Woken either with the result, or to run the next group.
		if done := <-c.wake; done {
			return c.err
		}
	}
	// Under load (a group ended a moment ago, or this caller takes over
	// from one), a moment's wait lets the calls on their way join this
	// group, so one transaction, whose begin and commit cost more than its
	// logins, serves more of them. An idle server does not wait.
	if !lead || s.loginsBusyLately() {
		s.gather()
	}
	s.runLoginGroup(ctx)
	return c.err
}

// maxLoginGroup bounds one group, so that a transaction stays short.
const maxLoginGroup = 256

// loginGatherWait is the longest the leader of a group under load waits for
// more calls before it runs the group, and loginGatherIdle how long it waits
// for the next one.
const (
	loginGatherWait = 500 * time.Microsecond
	loginGatherIdle = 150 * time.Microsecond
)

// loginBusyWindow: a group that ended this recently means logins are
// arriving back to back.
const loginBusyWindow = 2 * time.Millisecond

// loginsBusyLately reports whether the last group ended within
// loginBusyWindow: logins are arriving back to back.
func (s *Service) loginsBusyLately() bool {
	end := s.logins.lastEnd.Load()
	return end != 0 && time.Since(time.Unix(0, end)) < loginBusyWindow
}

// gather waits, briefly, for more logins to join the next group: until the
// group is large, loginGatherWait has passed, or no call has joined for
// loginGatherIdle (so a lone caller logging in back to back waits little).
func (s *Service) gather() {
	q := &s.logins
	start := time.Now()
	last, lastGrew := -1, start
	for n := 0; ; n++ {
		q.mu.Lock()
		queued := len(q.calls)
		q.mu.Unlock()
		now := time.Now()
		if queued != last {
			last, lastGrew = queued, now
		}
		if queued >= maxLoginGroup/4 || now.Sub(start) >= loginGatherWait || now.Sub(lastGrew) >= loginGatherIdle {
			return
		}
		if n < 8 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// loginQueue holds the logins waiting for the next group commit.
type loginQueue struct {
	mu      sync.Mutex
	calls   []*loginCall
	busy    bool         // a caller is running a group; the others wait in calls
	lastEnd atomic.Int64 // when the last group ended (Unix nanoseconds)
}

// loginCall is one Login waiting in the queue.
type loginCall struct {
	ctx     context.Context
	actor   string
	req     backend.LoginRequest
	network bool      // a failure does not count toward the lockout
	gate    LoginGate // nil, or decides whether the outcome stands
	err     error     // the result, set before wake gets true
	wake    chan bool // true: done, err is set; false: run the next group
}

// runLoginGroup takes the waiting logins (the caller's own among them) and
// runs them in one write transaction, answers each, then hands the queue to
// the first caller still waiting, or leaves it idle.
func (s *Service) runLoginGroup(ctx context.Context) {
	q := &s.logins
	q.mu.Lock()
	n := min(len(q.calls), maxLoginGroup)
	group := q.calls[:n:n]
	q.calls = q.calls[n:]
	q.mu.Unlock()

	completed := false
	defer func() {
		if !completed { // a panic: nothing of the group is known to be stored
			for _, c := range group {
				c.err = &backend.Error{Code: backend.CodeInternal, Message: "internal error"}
			}
		}
		s.handOffLogins(group)
	}()
	// The group is everyone's: one caller giving up must not fail the others.
	s.loginGroup(context.WithoutCancel(ctx), group)
	completed = true
}

// handOffLogins answers the group's callers and wakes the first waiting
// caller to run the next group, or leaves the queue idle.
func (s *Service) handOffLogins(group []*loginCall) {
	q := &s.logins
	q.lastEnd.Store(time.Now().UnixNano())
	q.mu.Lock()
	var next *loginCall
	if len(q.calls) > 0 {
		next = q.calls[0]
	} else {
		q.busy = false
		q.calls = nil
	}
	q.mu.Unlock()
	for _, c := range group {
		c.wake <- true
	}
	if next != nil {
		next.wake <- false
	}
}

// loginGroup runs the group in one write transaction. If that fails (the
// store failed), each login runs again in a transaction of its own, so one
// login's failure never decides another's result.
func (s *Service) loginGroup(ctx context.Context, group []*loginCall) {
	err := s.write(ctx, func(o *op) error {
		for _, c := range group {
			if err := c.ctx.Err(); err != nil {
				c.err = mapError(err) // gave up before its turn: not attempted
				continue
			}
			o.actor = c.actor
			o.now = s.now().UTC().Truncate(time.Microsecond)
			failure, err := o.login(c.req, !c.network, c.gate)
			if err != nil {
				return err
			}
			c.err = failure
		}
		return nil
	})
	if err == nil {
		return
	}
	if len(group) == 1 {
		group[0].err = err
		return
	}
	for _, c := range group {
		if cerr := c.ctx.Err(); cerr != nil {
			c.err = mapError(cerr)
			continue
		}
		var failure error
		err := s.write(c.ctx, func(o *op) error {
			var err error
			failure, err = o.login(c.req, !c.network, c.gate)
			return err
		})
		c.err = cmp.Or(err, failure)
	}
}

// login checks one login as o's actor and returns its result as Login does
// (nil, login_failed, locked, or rate_limited when gate discarded it); a
// store failure is the second result. count says whether a failure counts
// toward the lockout.
func (o *op) login(req backend.LoginRequest, count bool, gate LoginGate) (failure, err error) {
	// An app that proves who it is (the token its App Host registered) logs
	// in as itself: its logins count for its health, under its name.
	app, proven, err := o.provenApp(req)
	if err != nil {
		return nil, err
	}
	actor := o.actor
	if proven {
		actor = app.Name
	}
	res, acc, version, err := o.attemptLoginAs(actor, req.AccountID, req.Secret, count, gate)
	if err != nil {
		return nil, err
	}
	if res == loginOK && proven {
		if err := o.recordAppLogin(app, acc, version); err != nil {
			return nil, err
		}
	}
	switch res {
	case loginUnknown, loginWrongSecret:
		return errLoginFailed(), nil
	case loginLocked:
		return errLocked(acc.Name), nil
	case loginThrottled:
		return errThrottled(), nil
	}
	return nil, nil
}

// malformedNetworkLogin answers a network login whose ID is not shaped like
// an account ID: no lookup, no gate (no throttle record), and an audit row
// only when it opens a window of unknownLogins.
func (s *Service) malformedNetworkLogin(ctx context.Context) error {
	actor := ActorFrom(ctx)
	if detail, write := s.unknown.note(actor, s.now()); write {
		err := s.write(ctx, func(o *op) error {
			return o.auditAs(actor, backend.ActionLoginFailure, backend.TargetAccount, unknownTarget, "", detail)
		})
		if err != nil {
			return err
		}
	}
	return errLoginFailed()
}

// attemptLogin checks one login as actor and records it: the audit event,
// the failure count, the lock at the threshold. It returns the account name.
func (o *op) attemptLogin(actor, id, secret string) (loginResult, string, error) {
	res, acc, _, err := o.attemptLoginAs(actor, id, secret, true, nil)
	return res, acc.Name, err
}

// maxPreviousSecrets and previousSecretAge bound the previous secrets an
// account keeps the hashes of: the last 5, or those of the last 90 days.
const (
	maxPreviousSecrets = 5
	previousSecretAge  = 90 * 24 * time.Hour
)

// previousVersion returns the secret_version of the previous secret whose
// hash is hash, or 0.
func previousVersion(a store.AccountRow, hash []byte) int64 {
	found := int64(0)
	for _, p := range a.PreviousSecrets {
		// Every hash is compared, so the time does not say which matched.
		if subtle.ConstantTimeCompare(hash, p.Hash) == 1 {
			found = p.Version
		}
	}
	return found
}

// rememberPrevious keeps the hash of the secret a regeneration replaces.
func rememberPrevious(a *store.AccountRow, now time.Time) {
	prev := append([]store.PreviousSecret{{Hash: a.SecretHash, Version: a.SecretVersion, ReplacedAt: now}}, a.PreviousSecrets...)
	kept := prev[:0]
	for i, p := range prev {
		if i < maxPreviousSecrets || now.Sub(p.ReplacedAt) < previousSecretAge {
			kept = append(kept, p)
		}
	}
	a.PreviousSecrets = kept
}

// attemptLoginAs checks one login as actor and records it, and returns the
// account (zero when unknown) and, on success, the secret_version of the
// secret presented: the current one, or the pending one of an overlap
// rotation under way (valid beside it). With count false (a network login) a failure
// is audited only: the count and the lock stay as they are; but a failure
// with one of the account's previous secrets is a stale copy (an app that
// was not given the new secret, the seed's case) and counts toward the
// lockout wherever it comes from. gate (nil: none) is consulted once the
// outcome is known and before anything is recorded.
func (o *op) attemptLoginAs(actor, id, secret string, count bool, gate LoginGate) (loginResult, store.AccountRow, int64, error) {
	hash := hashSecret(secret) // before the lookup, so an unknown ID costs the same
	a, err := store.AccountRow{}, store.ErrNotFound
	if backend.IsAccountID(id) {
		a, err = o.tx.GetAccount(o.ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		if gate != nil && !gate(false) {
			return loginThrottled, store.AccountRow{}, 0, nil
		}
		// The ID is the caller's input: record it only if it looks like an ID,
		// since a swapped ID and secret would otherwise put a secret in the log.
		target := id
		if !backend.IsAccountID(id) {
			target = unknownTarget
		}
		detail := "unknown API key ID"
		if !count {
			var write bool
			if detail, write = o.s.unknown.note(actor, o.now); !write {
				return loginUnknown, store.AccountRow{}, 0, nil
			}
		}
		return loginUnknown, store.AccountRow{}, 0, o.auditAs(actor, backend.ActionLoginFailure, backend.TargetAccount, target, "", detail)
	}
	if err != nil {
		return 0, a, 0, err
	}

	current := subtle.ConstantTimeCompare(hash, a.SecretHash) == 1
	pending := a.PendingSecretHash != nil && subtle.ConstantTimeCompare(hash, a.PendingSecretHash) == 1
	match := current || pending
	if gate != nil && !gate(match && !a.Locked) {
		return loginThrottled, a, 0, nil
	}
	if match && !a.Locked {
		if a.FailedLoginAttempts != 0 {
			a.FailedLoginAttempts = 0
			if err := o.tx.UpdateAccount(o.ctx, a); err != nil {
				return 0, a, 0, err
			}
		}
		version, detail := a.SecretVersion, fmt.Sprintf("secret_version=%d", a.SecretVersion)
		if !current {
			version = pendingVersion(a)
			detail = fmt.Sprintf("secret_version=%d (pending)", version)
		}
		return loginOK, a, version, o.auditAs(actor, backend.ActionLoginSuccess, backend.TargetAccount, a.ID, a.Name, detail)
	}

	wasLocked := a.Locked
	version := ""
	switch {
	case current:
		version = fmt.Sprintf(", secret_version=%d", a.SecretVersion)
	case pending:
		version = fmt.Sprintf(", secret_version=%d (pending)", pendingVersion(a))
	}
	if v := previousVersion(a, hash); !match && v != 0 {
		// A stale copy of a previous secret: it locks the account wherever
		// it comes from.
		version, count = fmt.Sprintf(", previous secret_version=%d", v), true
	}
	if !count {
		detail := "wrong secret, not counted (network login)"
		res := loginWrongSecret
		if wasLocked {
			detail, res = "account locked, not counted (network login)", loginLocked
		}
		return res, a, 0, o.auditAs(actor, backend.ActionLoginFailure, backend.TargetAccount, a.ID, a.Name, detail+version)
	}
	a.FailedLoginAttempts++
	if !a.Locked && a.FailedLoginAttempts >= o.s.threshold {
		a.Locked = true
		a.UpdatedAt = o.now
	}
	if err := o.tx.UpdateAccount(o.ctx, a); err != nil {
		return 0, a, 0, err
	}
	detail := "wrong secret"
	if wasLocked {
		detail = "account locked"
	}
	detail += fmt.Sprintf(", failed_login_attempts=%d", a.FailedLoginAttempts) + version
	if err := o.auditAs(actor, backend.ActionLoginFailure, backend.TargetAccount, a.ID, a.Name, detail); err != nil {
		return 0, a, 0, err
	}
	if !a.Locked {
		return loginWrongSecret, a, 0, nil
	}
	if !wasLocked {
		if err := o.auditAs(actor, backend.ActionAccountLock, backend.TargetAccount, a.ID, a.Name,
			fmt.Sprintf("locked after %d failed logins", a.FailedLoginAttempts)); err != nil {
			return 0, a, 0, err
		}
	}
	return loginLocked, a, 0, nil
}
