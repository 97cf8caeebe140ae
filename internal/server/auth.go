package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

// authActor is the audit actor of the login that checks an admin caller's
// credentials: who the caller is is what that login decides.
const authActor = "admin-api"

// anonymousActor is the audit actor of unauthenticated calls (POST /v1/login).
const anonymousActor = "anonymous"

// authFailed is the one answer to wrong credentials: it never says whether
// the ID, the secret or the lock was the reason.
func authFailed() error {
	return &apiError{status: http.StatusUnauthorized, err: backend.Errorf(backend.CodeUnauthorized,
		"authentication failed: the API key ID or secret is wrong, or the account is locked; "+
			"use HTTP Basic auth with an admin API key account's ID as user and its secret as password")}
}

// rateLimited answers a client that must wait after failed logins at an
// account. Its attempt was not checked, so the answer is the same for a right
// and a wrong secret, and it counted toward nothing.
func rateLimited(w http.ResponseWriter, wait time.Duration) error {
	w.Header().Set("Retry-After", retryAfter(wait))
	return &apiError{status: http.StatusTooManyRequests, err: backend.Errorf(backend.CodeRateLimited,
		"too many failed logins from this address at this API key account; wait %s before trying again, and check the API key ID and secret: "+
			"until then every attempt is refused without being checked", retryAfter(wait)+"s")}
}

// loginFailure reports whether err is a decided failed login (wrong ID or
// secret, locked account), as opposed to a store failure that decided nothing.
func loginFailure(err error) bool {
	switch backend.CodeOf(err) {
	case backend.CodeLoginFailed, backend.CodeLocked, backend.CodeNotFound, backend.CodeInvalid, backend.CodeUnauthorized:
		return true
	}
	return false
}

// limitedLogin runs one login attempt under the throttle of the client
// address at account id: while it must wait, the attempt is not made and the
// answer is 429 whatever the secret. The attempt's context carries the
// throttle as a core.LoginGate, so the outcome counts the moment it is
// checked: a decided failure extends the wait, a success forgets the
// failures, and an outcome checked once other attempts have spent the burst
// is discarded (429 too). An ID that is not shaped like an account ID can
// never be right: it is tried (the backend refuses it without a lookup)
// but leaves no record here.
func (s *server) limitedLogin(w http.ResponseWriter, r *http.Request, id string, attempt func(context.Context) error) error {
	if !backend.IsAccountID(id) {
		return attempt(r.Context())
	}
	addr := s.limit.clientAddr(r)
	if wait := s.limit.wait(addr, id); wait > 0 {
		return rateLimited(w, wait)
	}
	g := &gate{l: s.limit, addr: addr, id: id}
	err := attempt(core.WithLoginGate(r.Context(), g.decide))
	if !g.asked() {
		// A backend that knows no gate decided on its own: record its outcome.
		switch {
		case err == nil:
			g.decide(true)
		case loginFailure(err):
			g.decide(false)
		}
	}
	if backend.CodeOf(err) == backend.CodeRateLimited {
		return rateLimited(w, max(s.limit.wait(addr, id), time.Second))
	}
	return err
}

// gate is one attempt's core.LoginGate: it settles the attempt with the
// throttle once, and answers the same if asked again.
type gate struct {
	l        *limiter
	addr, id string
	once     sync.Once
	called   atomic.Bool
	stands   bool
}

func (g *gate) decide(ok bool) bool {
	g.once.Do(func() {
		g.stands = g.l.settle(g.addr, g.id, ok)
		g.called.Store(true)
	})
	return g.stands
}

func (g *gate) asked() bool { return g.called.Load() }

// networkLogin is a login over the network: it never counts toward the
// lockout when the backend can tell (a *core.Service).
func (s *server) networkLogin(ctx context.Context, req backend.LoginRequest) error {
	if n, ok := s.b.(interface {
		NetworkLogin(context.Context, backend.LoginRequest) error
	}); ok {
		return n.NetworkLogin(ctx, req)
	}
	return s.b.Login(ctx, req)
}

// authenticate checks the request's Basic credentials: a login of an admin
// account. The returned context audits the call as that account's name.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (context.Context, error) {
	ctx, acct, err := s.authenticateAccount(w, r)
	if err != nil {
		return nil, err
	}
	if !acct.Admin {
		// The secret was right, so saying the account lacks the right tells the
		// caller nothing new and tells the operator what to fix.
		return nil, &apiError{status: http.StatusForbidden, err: backend.Errorf(backend.CodeForbidden,
			"API key account %q is not an admin account and may not call the admin API", acct.Name)}
	}
	return ctx, nil
}

// authenticateAccount checks the request's Basic credentials and returns
// the account they are of, whatever its rights, with a context that audits
// the call as that account's name.
func (s *server) authenticateAccount(w http.ResponseWriter, r *http.Request) (context.Context, *backend.Account, error) {
	id, secret, ok := r.BasicAuth()
	if !ok || id == "" {
		return nil, nil, &apiError{status: http.StatusUnauthorized, err: backend.Errorf(backend.CodeUnauthorized,
			"authentication required: use HTTP Basic auth with an admin API key account's ID as user and its secret as password")}
	}
	// A right secret is a read only; a wrong one is audited and throttled,
	// and never counts toward the account's lockout.
	var acct *backend.Account
	err := s.limitedLogin(w, r, id, func(ctx context.Context) error {
		var err error
		acct, err = s.auth.AuthenticateAdmin(core.WithActor(ctx, authActor), id, secret)
		return err
	})
	if err != nil {
		if loginFailure(err) {
			return nil, nil, authFailed()
		}
		return nil, nil, err // rate limited, or the store failed (logged, the caller should retry)
	}
	setLoggedActor(r.Context(), acct.Name)
	return core.WithActor(r.Context(), acct.Name), acct, nil
}

// consoleActor is the audit actor of a console sign-in's login.
const consoleActor = "console"

// consoleSignIn is the console's sign-in: the same check as an API call's
// Basic credentials, under the same throttle of the client address at the
// account, and for admin accounts only.
func (s *server) consoleSignIn(w http.ResponseWriter, r *http.Request, id, secret string) (*backend.Account, error) {
	var acct *backend.Account
	err := s.limitedLogin(w, r, id, func(ctx context.Context) error {
		var err error
		acct, err = s.auth.AuthenticateAdmin(core.WithActor(ctx, consoleActor), id, secret)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !acct.Admin {
		return nil, backend.Errorf(backend.CodeForbidden, "API key account %q is not an admin account", acct.Name)
	}
	setLoggedActor(r.Context(), acct.Name)
	return acct, nil
}
