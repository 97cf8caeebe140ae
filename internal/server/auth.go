package server

import (
	"context"
	"net/http"
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
// answer is 429 whatever the secret; a decided failure extends the wait, a
// success forgets the failures.
func (s *server) limitedLogin(w http.ResponseWriter, r *http.Request, id string, attempt func() error) error {
	addr := s.limit.clientAddr(r)
	if wait := s.limit.wait(addr, id); wait > 0 {
		return rateLimited(w, wait)
	}
	err := attempt()
	switch {
	case err == nil:
		s.limit.succeed(addr, id)
	case loginFailure(err):
		s.limit.fail(addr, id)
	}
	return err
}

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
	err := s.limitedLogin(w, r, id, func() error {
		var err error
		acct, err = s.auth.AuthenticateAdmin(core.WithActor(r.Context(), authActor), id, secret)
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
	err := s.limitedLogin(w, r, id, func() error {
		var err error
		acct, err = s.auth.AuthenticateAdmin(core.WithActor(r.Context(), consoleActor), id, secret)
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
