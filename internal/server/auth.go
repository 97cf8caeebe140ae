package server

import (
	"context"
	"net/http"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
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

// rateLimited answers a client past its failed-login budget. Its attempt was
// not made, so it counted toward no account's lockout.
func rateLimited(w http.ResponseWriter, wait time.Duration) error {
	w.Header().Set("Retry-After", retryAfter(wait))
	return &apiError{status: http.StatusTooManyRequests, err: backend.Errorf(backend.CodeRateLimited,
		"too many failed logins from this address; wait %s before trying again, and check the API key ID and secret: "+
			"further attempts with wrong credentials are refused without being checked", retryAfter(wait)+"s")}
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

// limitedLogin runs one login attempt under the client's failed-login budget.
// attempt is the attempt that counts failures; with the budget spent, only
// credentials that check() accepts without writing reach attempt, and any
// other attempt is refused with 429 without being made.
func (s *server) limitedLogin(w http.ResponseWriter, r *http.Request, id, secret string, attempt func() error) error {
	addr := clientAddr(r)
	ok, wait := s.limit.take(addr)
	if !ok {
		if s.check == nil {
			return rateLimited(w, wait)
		}
		if _, err := s.check.CheckSecret(r.Context(), id, secret); err != nil {
			if loginFailure(err) {
				return rateLimited(w, wait)
			}
			return err // the store failed
		}
		// Right credentials pass, so an attacker at the same address cannot
		// shut the owner out.
		return attempt()
	}
	err := attempt()
	if err == nil || !loginFailure(err) {
		s.limit.refund(addr)
	}
	return err
}

// authenticate checks the request's Basic credentials: a login of an admin
// account. The returned context audits the call as that account's name.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (context.Context, error) {
	id, secret, ok := r.BasicAuth()
	if !ok || id == "" {
		return nil, &apiError{status: http.StatusUnauthorized, err: backend.Errorf(backend.CodeUnauthorized,
			"authentication required: use HTTP Basic auth with an admin API key account's ID as user and its secret as password")}
	}
	// A right secret is a read only; a wrong one counts toward that
	// account's lockout like any other failed login.
	var acct *backend.Account
	err := s.limitedLogin(w, r, id, secret, func() error {
		var err error
		acct, err = s.auth.AuthenticateAdmin(backend.WithActor(r.Context(), authActor), id, secret)
		return err
	})
	if err != nil {
		if loginFailure(err) {
			return nil, authFailed()
		}
		return nil, err // rate limited, or the store failed (logged, the caller should retry)
	}
	if !acct.Admin {
		// The secret was right, so saying the account lacks the right tells the
		// caller nothing new and tells the operator what to fix.
		return nil, &apiError{status: http.StatusForbidden, err: backend.Errorf(backend.CodeUnauthorized,
			"API key account %q is not an admin account and may not call the admin API", acct.Name)}
	}
	setLoggedActor(r.Context(), acct.Name)
	return backend.WithActor(r.Context(), acct.Name), nil
}
