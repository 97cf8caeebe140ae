package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	retryablehttp "github.com/hashicorp/go-retryablehttp"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// call is one API request.
type call struct {
	method string
	path   string // under the endpoint, starting with /v1/
	query  url.Values
	header http.Header
	body   any // marshalled as JSON when non-nil
	out    any // decoded from a 2xx JSON response when non-nil
	class  retryClass
	// unknownOutcome says what the user should do when a retryUnsent call
	// failed after it may have reached the server (so it was not repeated).
	unknownOutcome string
	// anonymous calls send no credentials.
	anonymous bool
	// status, when set, receives the 2xx status of the response.
	status *int
}

func (c *Client) do(ctx context.Context, k call) error {
	// Path values are escaped by the callers (pathID), so the URL is built as
	// a string rather than through url.URL.Path, which would escape them twice.
	target := c.endpoint + k.path
	if len(k.query) > 0 {
		target += "?" + k.query.Encode()
	}
	var body any
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body = b
	}
	ctx = context.WithValue(ctx, retryClassKey{}, k.class)
	req, err := retryablehttp.NewRequestWithContext(ctx, k.method, target, body)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	for name, v := range k.header {
		req.Header[name] = v
	}
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if !k.anonymous && (c.id != "" || c.secret != "") {
		req.SetBasicAuth(c.id, c.secret)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if k.class == retryUnsent && transient(err) && !neverSent(err) {
			return c.outcomeUnknown(k, err)
		}
		return c.unreachable(ctx, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	if k.status != nil {
		*k.status = resp.StatusCode
	}
	if k.out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(k.out); err != nil {
		return &backend.Error{Code: backend.CodeInternal,
			Message: fmt.Sprintf("the server at %s sent a response that is not the expected JSON (HTTP %d); check that the endpoint is an apphost server", c.endpoint, resp.StatusCode),
			Err:     err}
	}
	return nil
}

// decodeError turns an error response back into the *backend.Error the
// server sent, so backend.IsNotFound and friends work on this side too.
// Responses that are not ours (a proxy's HTML page) get a code from the status.
func decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error *backend.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err == nil && body.Error != nil && body.Error.Code != "" {
		return body.Error
	}
	code := backend.CodeInternal
	switch resp.StatusCode {
	case http.StatusNotFound:
		code = backend.CodeNotFound
	case http.StatusConflict:
		code = backend.CodeConflict
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		code = backend.CodeInvalid
	case http.StatusUnauthorized:
		code = backend.CodeUnauthorized
	case http.StatusForbidden:
		code = backend.CodeForbidden
	case http.StatusLocked:
		code = backend.CodeLocked
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		code = backend.CodeUnavailable
	}
	return &backend.Error{Code: code, Message: fmt.Sprintf("the server answered HTTP %d %s",
		resp.StatusCode, http.StatusText(resp.StatusCode))}
}

func pathID(s string) string { return url.PathEscape(s) }

// accounts

// CreateAccount implements backend.Backend. It is not retried once the
// request may have reached the server: a repeat could not return the secret.
func (c *Client) CreateAccount(ctx context.Context, req backend.CreateAccountRequest) (*backend.AccountWithSecret, error) {
	var out backend.AccountWithSecret
	if err := c.do(ctx, call{method: "POST", path: "/v1/accounts", body: req, out: &out, class: retryUnsent,
		unknownOutcome: fmt.Sprintf("the API key account %q may have been created, but its secret (shown only once) was lost with the answer. "+
			"Look for it (terraform-provider-apphost accounts, or GET /v1/accounts/by-name/%s): if it exists, import it "+
			"(an import block or the import command) and rotate its secret (change a rotation trigger), since its first secret is unknown; "+
			"if it does not, apply again", req.Name, url.PathEscape(req.Name))}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAccount implements backend.Backend.
func (c *Client) GetAccount(ctx context.Context, id string) (*backend.Account, error) {
	if id == "" {
		return nil, backend.InvalidField("id", "the API key account ID is empty")
	}
	var out backend.Account
	if err := c.do(ctx, call{method: "GET", path: "/v1/accounts/" + pathID(id), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAccountByName implements backend.Backend.
func (c *Client) GetAccountByName(ctx context.Context, name string) (*backend.Account, error) {
	if name == "" {
		return nil, backend.InvalidField("name", "the API key account name is empty")
	}
	var out backend.Account
	if err := c.do(ctx, call{method: "GET", path: "/v1/accounts/by-name/" + pathID(name), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAccounts implements backend.Backend.
func (c *Client) ListAccounts(ctx context.Context, req backend.ListAccountsRequest) ([]backend.Account, error) {
	q := url.Values{}
	if req.Locked != nil {
		q.Set("locked", strconv.FormatBool(*req.Locked))
	}
	var out struct {
		Accounts []backend.Account `json:"accounts"`
	}
	if err := c.do(ctx, call{method: "GET", path: "/v1/accounts", query: q, out: &out}); err != nil {
		return nil, err
	}
	return out.Accounts, nil
}

// UpdateAccount implements backend.Backend.
func (c *Client) UpdateAccount(ctx context.Context, req backend.UpdateAccountRequest) (*backend.Account, error) {
	if req.ID == "" {
		return nil, backend.InvalidField("id", "the API key account ID is empty")
	}
	var out backend.Account
	if err := c.do(ctx, call{method: "PUT", path: "/v1/accounts/" + pathID(req.ID), body: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAccount implements backend.Backend.
func (c *Client) DeleteAccount(ctx context.Context, req backend.DeleteAccountRequest) error {
	if req.ID == "" {
		return backend.InvalidField("id", "the API key account ID is empty")
	}
	return c.do(ctx, call{method: "DELETE", path: "/v1/accounts/" + pathID(req.ID)})
}

// Login implements backend.Backend. It is never repeated after the request
// may have reached the server: a repeated failure would count twice.
func (c *Client) Login(ctx context.Context, req backend.LoginRequest) error {
	return c.do(ctx, call{method: "POST", path: "/v1/login", body: req, class: retryUnsent,
		unknownOutcome: "the login may have been checked (and, if the secret was wrong, counted toward the lockout); try again"})
}

// apps

// CreateApp implements backend.Backend; retried like CreateAccount.
func (c *Client) CreateApp(ctx context.Context, req backend.CreateAppRequest) (*backend.App, error) {
	var out backend.App
	if err := c.do(ctx, call{method: "POST", path: "/v1/apps", body: req, out: &out, class: retryUnsent,
		unknownOutcome: fmt.Sprintf("the app %q may have been created. Look for it (GET /v1/apps/by-name/%s): "+
			"if it exists, import it (an import block or the import command); if it does not, apply again", req.Name, url.PathEscape(req.Name))}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetApp implements backend.Backend.
func (c *Client) GetApp(ctx context.Context, id string) (*backend.App, error) {
	if id == "" {
		return nil, backend.InvalidField("id", "the app ID is empty")
	}
	var out backend.App
	if err := c.do(ctx, call{method: "GET", path: "/v1/apps/" + pathID(id), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAppByName implements backend.Backend.
func (c *Client) GetAppByName(ctx context.Context, name string) (*backend.App, error) {
	if name == "" {
		return nil, backend.InvalidField("name", "the app name is empty")
	}
	var out backend.App
	if err := c.do(ctx, call{method: "GET", path: "/v1/apps/by-name/" + pathID(name), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListApps implements backend.Backend.
func (c *Client) ListApps(ctx context.Context, req backend.ListAppsRequest) ([]backend.App, error) {
	q := url.Values{}
	if req.BoundToAccountID != "" {
		q.Set("bound_to_account_id", req.BoundToAccountID)
	}
	if req.Running != nil {
		q.Set("running", strconv.FormatBool(*req.Running))
	}
	if req.Deployed != nil {
		q.Set("deployed", strconv.FormatBool(*req.Deployed))
	}
	if req.AppHost != "" {
		q.Set("app_host", req.AppHost)
	}
	var out struct {
		Apps []backend.App `json:"apps"`
	}
	if err := c.do(ctx, call{method: "GET", path: "/v1/apps", query: q, out: &out}); err != nil {
		return nil, err
	}
	return out.Apps, nil
}

// UpdateApp implements backend.Backend.
func (c *Client) UpdateApp(ctx context.Context, req backend.UpdateAppRequest) (*backend.App, error) {
	if req.ID == "" {
		return nil, backend.InvalidField("id", "the app ID is empty")
	}
	var out backend.App
	if err := c.do(ctx, call{method: "PUT", path: "/v1/apps/" + pathID(req.ID), body: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteApp implements backend.Backend.
func (c *Client) DeleteApp(ctx context.Context, id string) error {
	if id == "" {
		return backend.InvalidField("id", "the app ID is empty")
	}
	return c.do(ctx, call{method: "DELETE", path: "/v1/apps/" + pathID(id)})
}

// DeployApp implements backend.Backend. Deploying sets a desired state, so a
// repeat is harmless.
func (c *Client) DeployApp(ctx context.Context, id string) (*backend.App, error) {
	return c.appAction(ctx, id, "deploy")
}

// UndeployApp implements backend.Backend.
func (c *Client) UndeployApp(ctx context.Context, id string) (*backend.App, error) {
	return c.appAction(ctx, id, "undeploy")
}

func (c *Client) appAction(ctx context.Context, id, action string) (*backend.App, error) {
	if id == "" {
		return nil, backend.InvalidField("id", "the app ID is empty")
	}
	var out backend.App
	if err := c.do(ctx, call{method: "POST", path: "/v1/apps/" + pathID(id) + "/" + action, out: &out, class: retrySafe}); err != nil {
		return nil, err
	}
	return &out, nil
}

// app secrets

// PutAppSecret implements backend.Backend.
func (c *Client) PutAppSecret(ctx context.Context, req backend.PutAppSecretRequest) (*backend.AppSecret, error) {
	if req.AppID == "" || req.Name == "" {
		return nil, backend.InvalidField("name", "the app ID and the app secret name must both be set")
	}
	var out backend.AppSecret
	if err := c.do(ctx, call{method: "PUT", path: "/v1/apps/" + pathID(req.AppID) + "/secrets/" + pathID(req.Name),
		body: req, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetAppSecret implements backend.Backend.
func (c *Client) GetAppSecret(ctx context.Context, appID, name string) (*backend.AppSecret, error) {
	if appID == "" || name == "" {
		return nil, backend.InvalidField("name", "the app ID and the app secret name must both be set")
	}
	var out backend.AppSecret
	if err := c.do(ctx, call{method: "GET", path: "/v1/apps/" + pathID(appID) + "/secrets/" + pathID(name), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAppSecret implements backend.Backend.
func (c *Client) DeleteAppSecret(ctx context.Context, req backend.DeleteAppSecretRequest) error {
	if req.AppID == "" || req.Name == "" {
		return backend.InvalidField("name", "the app ID and the app secret name must both be set")
	}
	return c.do(ctx, call{method: "DELETE", path: "/v1/apps/" + pathID(req.AppID) + "/secrets/" + pathID(req.Name)})
}

// ListAuditEvents implements backend.Backend.
func (c *Client) ListAuditEvents(ctx context.Context, q backend.AuditQuery) ([]backend.AuditEvent, error) {
	v := url.Values{}
	if q.AfterSeq > 0 {
		v.Set("after_seq", strconv.FormatInt(q.AfterSeq, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out struct {
		Events []backend.AuditEvent `json:"events"`
	}
	if err := c.do(ctx, call{method: "GET", path: "/v1/audit", query: v, out: &out}); err != nil {
		return nil, err
	}
	return out.Events, nil
}
