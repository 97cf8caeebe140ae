package server

import (
	"context"
	"net/http"

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

// authenticate checks the request's Basic credentials: a login of an admin
// account. The returned context audits the call as that account's name.
func (s *server) authenticate(r *http.Request) (context.Context, error) {
	id, secret, ok := r.BasicAuth()
	if !ok || id == "" {
		return nil, &apiError{status: http.StatusUnauthorized, err: backend.Errorf(backend.CodeUnauthorized,
			"authentication required: use HTTP Basic auth with an admin API key account's ID as user and its secret as password")}
	}
	// Every attempt goes through the domain's login, so wrong secrets count
	// toward that account's lockout like any other failed login.
	acct, err := s.auth.AuthenticateAdmin(backend.WithActor(r.Context(), authActor), id, secret)
	if err != nil {
		switch backend.CodeOf(err) {
		case backend.CodeLoginFailed, backend.CodeLocked, backend.CodeNotFound, backend.CodeInvalid, backend.CodeUnauthorized:
			return nil, authFailed()
		case "":
			return nil, err // logged as internal, hidden from the caller
		default:
			return nil, err // unavailable and the like: the caller should retry
		}
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
