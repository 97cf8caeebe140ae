package core

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// CheckSecret reports whether secret is the current secret of the account id
// and that account may log in (it is not locked). It only reads: no audit
// event, no failure count, no write transaction. It returns the account (its
// Apps left empty) or the same errors as Login (login_failed, locked).
//
// It is the cheap path of a caller that authenticates on every request (the
// server's Basic auth), and the check a rate-limited caller may still make
// without its failures counting toward anyone's lockout.
func (s *Service) CheckSecret(ctx context.Context, id, secret string) (*backend.Account, error) {
	hash := hashSecret(secret) // before the lookup, so an unknown ID costs the same
	if err := validateLogin(backend.LoginRequest{AccountID: id, Secret: secret}); err != nil {
		return nil, err
	}
	if !backend.IsAccountID(id) {
		return nil, errLoginFailed() // no account has it: nothing to read
	}
	return readValue(s, ctx, func(o *op) (*backend.Account, error) {
		row, err := o.tx.GetAccount(o.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errLoginFailed()
		}
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(hash, row.SecretHash) != 1 {
			return nil, errLoginFailed()
		}
		if row.Locked {
			return nil, errLocked(row.Name)
		}
		a := toAccount(row, nil)
		return &a, nil
	})
}

// AuthenticateAdmin checks the credentials of an admin API call. A right
// secret of an unlocked account with no failed logins on record is a read
// only (CheckSecret): an API call writes nothing to authenticate. Anything
// else goes through NetworkLogin's write path: a failure is audited but never
// counts toward the lockout (the server throttles it per client address and
// account instead), and a success after failures resets the count as Login
// does. The account is returned whether or not it is an admin; the caller
// decides what that allows. The LoginGate of ctx, if any, decides whether
// the outcome stands, as for NetworkLogin.
func (s *Service) AuthenticateAdmin(ctx context.Context, id, secret string) (*backend.Account, error) {
	a, err := s.CheckSecret(ctx, id, secret)
	switch {
	case err == nil && a.FailedLoginAttempts == 0:
		if gate := gateFrom(ctx); gate != nil && !gate(true) {
			return nil, errThrottled()
		}
		return a, nil
	case err != nil && backend.CodeOf(err) != backend.CodeLoginFailed && backend.CodeOf(err) != backend.CodeLocked:
		return nil, err // the store failed: nothing was decided, nothing to count
	}
	if err := s.NetworkLogin(ctx, backend.LoginRequest{AccountID: id, Secret: secret}); err != nil {
		return nil, err
	}
	return s.CheckSecret(ctx, id, secret)
}
