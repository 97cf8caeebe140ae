package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apiversion"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// noRetryKey marks a call that is made once: a check whose failure the user
// must hear about now, not after a minute of backoff.
type noRetryKey struct{}

// Version returns the server's version (GET /v1/version) without checking
// credentials. A server from before that path (API version 1) answers
// not_found.
func (c *Client) Version(ctx context.Context) (*apiversion.Info, error) {
	var out apiversion.Info
	if err := c.do(ctx, call{method: "GET", path: "/v1/version", out: &out, class: retrySafe, anonymous: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ServerErrorKind says what CheckServer found wrong.
type ServerErrorKind int

// The kinds of ServerError.
const (
	// ServerUnreachable: no answer, or not an apphost server's answer.
	ServerUnreachable ServerErrorKind = iota
	// ServerCredentials: the credentials were refused, or are not an admin's.
	ServerCredentials
	// ServerTooOld: the server speaks an API version below the one needed.
	ServerTooOld
)

// ServerError is what CheckServer found wrong, with what to do about it.
type ServerError struct {
	Kind ServerErrorKind
	// Message says what happened and what to do; it names the endpoint.
	Message string
	// Err is the underlying error.
	Err error
}

func (e *ServerError) Error() string { return e.Message }
func (e *ServerError) Unwrap() error { return e.Err }

// CheckServer checks, in one request made once (no retry, so a rejected
// credential is tried exactly once) and answered within timeout, that the
// server is reachable, speaks at least API version minAPI, and accepts the
// client's credentials. A failure is a *ServerError that names the endpoint
// and says what to do.
//
// The timeout is its own, not Config.Timeout (which a regenerate needs long):
// an endpoint that accepts connections and never answers must not hold a
// plan for minutes.
func (c *Client) CheckServer(ctx context.Context, minAPI int, timeout time.Duration) (*apiversion.Info, error) {
	var info apiversion.Info
	checkCtx, cancel := context.WithTimeout(context.WithValue(ctx, noRetryKey{}, true), timeout)
	defer cancel()
	err := c.do(checkCtx, call{method: "GET", path: "/v1/version", out: &info, class: retrySafe})
	if err != nil && ctx.Err() == nil && errors.Is(checkCtx.Err(), context.DeadlineExceeded) {
		return nil, &ServerError{Kind: ServerUnreachable, Err: err, Message: fmt.Sprintf(
			"the apphost server at %s did not answer its version check within %s (the provider's check timeout, "+
				"made once): something at that address accepts connections but does not answer like an apphost "+
				"server. Check the endpoint, and that the server there runs and is not stuck, then plan again",
			c.endpoint, timeout)}
	}
	tooOld := func(have string) error {
		return &ServerError{Kind: ServerTooOld, Err: err, Message: fmt.Sprintf(
			"the apphost server at %s is %s; this provider needs API version %d or later. "+
				"An older server is too old for one-operation rotation: it would regenerate a key without undeploying and redeploying "+
				"the apps bound to it, and every running app would keep its stale secret and lock the account. "+
				"Upgrade the server (terraform-provider-apphost serve) to a release that serves API version %d (this provider's release or later), then plan again",
			c.endpoint, have, minAPI, minAPI)}
	}
	if err != nil {
		var be *backend.Error
		errors.As(err, &be)
		switch backend.CodeOf(err) {
		case backend.CodeNotFound:
			return nil, tooOld("API version 1 (it has no GET /v1/version)")
		case backend.CodeUnauthorized, backend.CodeLoginFailed, backend.CodeLocked:
			return nil, &ServerError{Kind: ServerCredentials, Err: err, Message: fmt.Sprintf(
				"the apphost server at %s rejected the credentials (api_key_id %s): the ID or the secret is wrong, or the account is locked. "+
					"The check was made once and not retried; a failed login over the network never counts toward the account's lockout, "+
					"but repeated failures from this address are throttled. Set api_key_id and api_key_secret (or APPHOST_API_KEY_ID and "+
					"APPHOST_API_KEY_SECRET) to an admin API key account's ID and secret; if the admin secret is lost or the account locked, "+
					"whoever holds the store can run terraform-provider-apphost recover-admin",
				c.endpoint, c.id)}
		case backend.CodeForbidden:
			return nil, &ServerError{Kind: ServerCredentials, Err: err, Message: fmt.Sprintf(
				"the apphost server at %s accepted api_key_id %s but it is not an admin API key account: use an admin account's ID and secret",
				c.endpoint, c.id)}
		case backend.CodeRateLimited:
			return nil, &ServerError{Kind: ServerCredentials, Err: err, Message: fmt.Sprintf(
				"the apphost server at %s refuses logins from this address at api_key_id %s for now: %s",
				c.endpoint, c.id, messageOf(be, err))}
		case backend.CodeUnavailable:
			msg := messageOf(be, err)
			if !strings.Contains(msg, c.endpoint) {
				msg = fmt.Sprintf("the apphost server at %s is not available: %s", c.endpoint, msg)
			}
			return nil, &ServerError{Kind: ServerUnreachable, Err: err, Message: msg + "; then plan again"}
		}
		return nil, &ServerError{Kind: ServerUnreachable, Err: err, Message: fmt.Sprintf(
			"the apphost server at %s did not answer its version check as an apphost server does: %v. Check that the endpoint is an apphost server", c.endpoint, err)}
	}
	if info.APIVersion < minAPI {
		return nil, tooOld(fmt.Sprintf("API version %d (server version %s)", info.APIVersion, info.Version))
	}
	return &info, nil
}

func messageOf(be *backend.Error, err error) string {
	if be != nil && be.Message != "" {
		return be.Message
	}
	return err.Error()
}
