package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// PreferHeader asks the server to answer a regenerate at once with the
// rotation it started (202), rather than when the rotation has ended.
const (
	PreferHeader      = "Prefer"
	PreferAsync       = "respond-async"
	maxRotationPoll   = time.Second
	firstRotationPoll = 20 * time.Millisecond
)

// RegenerateSecret implements backend.Backend. It starts the rotation
// (Prefer: respond-async: 202 and the rotation), polls the rotation until
// it ended, and then asks for its result with the rotation's
// Idempotency-Key (a new one when req has none). So no request lasts as
// long as the rotation, and every retry is safe: a repeat of the start
// returns the same rotation, never a second one. A server that does not
// answer asynchronously (API version 2) answers 200 with the result.
//
// If ctx ends while the rotation runs, the rotation goes on in the server:
// the error (backend.IsInterrupted) says so.
func (c *Client) RegenerateSecret(ctx context.Context, req backend.RegenerateRequest) (*backend.AccountWithSecret, error) {
	if req.ID == "" {
		return nil, backend.InvalidField("id", "the API key account ID is empty")
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = uuid.NewString()
	}
	h := http.Header{}
	h.Set(backend.IdempotencyKeyHeader, req.IdempotencyKey)
	h.Set(PreferHeader, PreferAsync)
	var raw json.RawMessage
	var status int
	if err := c.do(ctx, call{method: "POST", path: "/v1/accounts/" + pathID(req.ID) + "/regenerate",
		header: h, body: req, out: &raw, class: retrySafe, status: &status}); err != nil {
		return nil, err
	}
	if status != http.StatusAccepted {
		var out backend.AccountWithSecret
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, c.badJSON(status, err)
		}
		return &out, nil
	}
	var r backend.Rotation
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, c.badJSON(status, err)
	}
	if err := c.awaitRotation(ctx, &r); err != nil {
		return nil, err
	}
	return c.RotationResult(ctx, backend.RotationResultRequest{ID: r.ID, IdempotencyKey: req.IdempotencyKey})
}

// awaitRotation polls the rotation until it ended, backing off to one
// request a second.
func (c *Client) awaitRotation(ctx context.Context, r *backend.Rotation) error {
	for wait := firstRotationPoll; !r.Ended(); wait = min(2*wait, maxRotationPoll) {
		select {
		case <-ctx.Done():
			return backend.Errorf(backend.CodeInterrupted, "stopped waiting for rotation %s of API key account %q "+
				"(state %s): the rotation goes on in the server at %s, and the next apply reports its outcome",
				r.ID, r.AccountName, r.State, c.endpoint)
		case <-time.After(wait):
		}
		next, err := c.GetRotation(ctx, r.ID)
		if err != nil {
			if ctx.Err() != nil {
				continue // reported as interrupted above
			}
			return err
		}
		*r = *next
	}
	return nil
}

// GetRotation implements backend.Backend.
func (c *Client) GetRotation(ctx context.Context, id string) (*backend.Rotation, error) {
	if id == "" {
		return nil, backend.InvalidField("id", "the rotation ID is empty")
	}
	var out backend.Rotation
	if err := c.do(ctx, call{method: "GET", path: "/v1/rotations/" + pathID(id), out: &out, class: retrySafe}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRotations implements backend.Backend.
func (c *Client) ListRotations(ctx context.Context, req backend.ListRotationsRequest) ([]backend.Rotation, error) {
	q := url.Values{}
	if req.AccountID != "" {
		q.Set("api_key_account_id", req.AccountID)
	}
	if req.ActiveOnly {
		q.Set("active", "true")
	}
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	var out struct {
		Rotations []backend.Rotation `json:"rotations"`
	}
	if err := c.do(ctx, call{method: "GET", path: "/v1/rotations", query: q, out: &out, class: retrySafe}); err != nil {
		return nil, err
	}
	if out.Rotations == nil {
		out.Rotations = []backend.Rotation{}
	}
	return out.Rotations, nil
}

// RotationResult implements backend.Backend. It is safe to repeat: the
// result stays the same for the holder of the key.
func (c *Client) RotationResult(ctx context.Context, req backend.RotationResultRequest) (*backend.AccountWithSecret, error) {
	if req.ID == "" {
		return nil, backend.InvalidField("id", "the rotation ID is empty")
	}
	h := http.Header{}
	h.Set(backend.IdempotencyKeyHeader, req.IdempotencyKey)
	var out backend.AccountWithSecret
	if err := c.do(ctx, call{method: "POST", path: "/v1/rotations/" + pathID(req.ID) + "/result",
		header: h, out: &out, class: retrySafe}); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) badJSON(status int, err error) error {
	return &backend.Error{Code: backend.CodeInternal, Err: err, Message: "the server at " + c.endpoint +
		" sent a response that is not the expected JSON (HTTP " + strconv.Itoa(status) + "); check that the endpoint is an apphost server"}
}

// ListAppHosts implements backend.Backend.
func (c *Client) ListAppHosts(ctx context.Context) ([]backend.AppHost, error) {
	var out struct {
		AppHosts []backend.AppHost `json:"app_hosts"`
	}
	if err := c.do(ctx, call{method: "GET", path: "/v1/app-hosts", out: &out, class: retrySafe}); err != nil {
		return nil, err
	}
	if out.AppHosts == nil {
		out.AppHosts = []backend.AppHost{}
	}
	return out.AppHosts, nil
}
