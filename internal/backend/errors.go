package backend

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes: stable, shared by the domain, the HTTP API and the client.
const (
	CodeNotFound = "not_found"
	CodeConflict = "conflict" // a name already taken, a concurrent change
	CodeInvalid  = "invalid"  // bad input; Field names the field at fault
	CodeInUse    = "in_use"   // refused: app secrets are still bound to the account
	// CodeVersionMismatch: the secret_version the caller expected to replace
	// is not the account's; nothing changed (plan again).
	CodeVersionMismatch = "secret_version_mismatch"
	// CodeNoSealedSecret: the account has no sealed copy of its secret to
	// fill a bound app secret with (rotate it once).
	CodeNoSealedSecret = "no_sealed_secret"
	// CodeStaleValue: a bound app secret's value is not the account's current secret.
	CodeStaleValue   = "stale_value"
	CodeLoginFailed  = "login_failed" // wrong ID or secret
	CodeLocked       = "locked"       // the account is locked
	CodeUnauthorized = "unauthorized" // no or wrong credentials for the admin API
	CodeForbidden    = "forbidden"    // right credentials of an account that may not do this
	CodeRateLimited  = "rate_limited" // too many failed logins from one client address; wait
	CodeUnavailable  = "unavailable"  // the store cannot be reached; retry later
	CodeSchemaNewer  = "schema_newer" // the store was written by a newer version
	CodeKeyFile      = "key_file"     // the encryption key file is missing or unreadable
	CodeInternal     = "internal"
	// CodeRefused: a rotation refused before it regenerated anything (an App
	// Host that could not confirm); every app runs as before.
	CodeRefused = "rotation_refused"
	// CodeIdempotencyMismatch: an Idempotency-Key already used for another
	// request; nothing changed.
	CodeIdempotencyMismatch = "idempotency_key_reused"
	// CodeInterrupted: the caller stopped waiting; the rotation goes on in
	// the backend and its outcome is read later.
	CodeInterrupted = "interrupted"
)

// Error is a failure the caller can act on.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the input field at fault, for CodeInvalid.
	Field string `json:"field,omitempty"`
	// Apps names the apps bound to the account, for CodeInUse.
	Apps []string `json:"apps,omitempty"`
	// Err is the underlying error, if any; never sent over the wire.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField makes a CodeInvalid error for one input field.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// InUseError says that app secrets are still bound to an account.
func InUseError(account string, apps []string) *Error {
	return &Error{
		Code: CodeInUse,
		Apps: apps,
		Message: fmt.Sprintf("API key account %q still has app secrets bound to it, in the apps: %s",
			account, strings.Join(apps, ", ")),
	}
}

// CodeOf returns the code of err's *Error, or "" when it has none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports whether err says the object does not exist.
func IsNotFound(err error) bool { return CodeOf(err) == CodeNotFound }

// IsConflict reports whether err is a conflict such as a name already taken.
func IsConflict(err error) bool { return CodeOf(err) == CodeConflict }

// IsInvalid reports whether err is rejected input.
func IsInvalid(err error) bool { return CodeOf(err) == CodeInvalid }

// IsInUse reports whether err is a refusal because app secrets are bound to the account.
func IsInUse(err error) bool { return CodeOf(err) == CodeInUse }

// IsVersionMismatch reports whether err says the account's secret_version is
// not the one the caller expected to replace.
func IsVersionMismatch(err error) bool { return CodeOf(err) == CodeVersionMismatch }

// IsRefused reports whether err is a rotation refused before it changed anything.
func IsRefused(err error) bool { return CodeOf(err) == CodeRefused }

// IsInterrupted reports whether the caller stopped waiting for a rotation
// that goes on in the backend.
func IsInterrupted(err error) bool { return CodeOf(err) == CodeInterrupted }

// IsUnavailable reports whether err is a transient failure worth retrying.
func IsUnavailable(err error) bool { return CodeOf(err) == CodeUnavailable }
