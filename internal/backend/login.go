package backend

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// loginResult is the outcome of one login attempt.
type loginResult int

const (
	loginOK loginResult = iota
	loginUnknown
	loginWrongSecret
	loginLocked // rejected because locked, or locked by this very failure
)

// errLoginFailed is one message for an unknown ID and a wrong secret, so a
// caller cannot probe which IDs exist.
func errLoginFailed() *Error {
	return Errorf(CodeLoginFailed, "wrong API key ID or secret")
}

func errLocked(name string) *Error {
	return Errorf(CodeLocked, "API key account %q is locked after too many failed logins; regenerate its secret to unlock it", name)
}

// Login checks an account's ID and secret. A failure is recorded (and may
// lock the account) even though the call returns an error.
func (s *Service) Login(ctx context.Context, req LoginRequest) error {
	var failure error
	err := s.write(ctx, func(o *op) error {
		res, name, err := o.attemptLogin(o.actor, req.AccountID, req.Secret)
		if err != nil {
			return err
		}
		switch res {
		case loginUnknown, loginWrongSecret:
			failure = errLoginFailed()
		case loginLocked:
			failure = errLocked(name)
		}
		// Commit: the failure count and the audit events must stay.
		return nil
	})
	if err != nil {
		return err
	}
	return failure
}

// attemptLogin checks one login as actor and records it: the audit event,
// the failure count, the lock at the threshold. It returns the account name.
func (o *op) attemptLogin(actor, id, secret string) (loginResult, string, error) {
	hash := hashSecret(secret) // before the lookup, so an unknown ID costs the same
	a, err := o.tx.GetAccount(o.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// The ID is the caller's input: record it only if it looks like an ID,
		// since a swapped ID and secret would otherwise put a secret in the log.
		target := id
		if _, perr := uuid.Parse(id); perr != nil {
			target = "(not an API key ID)"
		}
		return loginUnknown, "", o.auditAs(actor, ActionLoginFailure, TargetAccount, target, "", "unknown API key ID")
	}
	if err != nil {
		return 0, "", err
	}

	match := subtle.ConstantTimeCompare(hash, a.SecretHash) == 1
	if match && !a.Locked {
		if a.FailedLoginAttempts != 0 {
			a.FailedLoginAttempts = 0
			if err := o.tx.UpdateAccount(o.ctx, a); err != nil {
				return 0, "", err
			}
		}
		return loginOK, a.Name, o.auditAs(actor, ActionLoginSuccess, TargetAccount, a.ID, a.Name, "")
	}

	wasLocked := a.Locked
	a.FailedLoginAttempts++
	if !a.Locked && a.FailedLoginAttempts >= o.s.threshold {
		a.Locked = true
		a.UpdatedAt = o.now
	}
	if err := o.tx.UpdateAccount(o.ctx, a); err != nil {
		return 0, "", err
	}
	detail := "wrong secret"
	if wasLocked {
		detail = "account locked"
	}
	detail += fmt.Sprintf(", failed_login_attempts=%d", a.FailedLoginAttempts)
	if err := o.auditAs(actor, ActionLoginFailure, TargetAccount, a.ID, a.Name, detail); err != nil {
		return 0, "", err
	}
	if !a.Locked {
		return loginWrongSecret, a.Name, nil
	}
	if !wasLocked {
		if err := o.auditAs(actor, ActionAccountLock, TargetAccount, a.ID, a.Name,
			fmt.Sprintf("locked after %d failed logins", a.FailedLoginAttempts)); err != nil {
			return 0, "", err
		}
	}
	return loginLocked, a.Name, nil
}
