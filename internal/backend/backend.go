// Package backend is the one seam between the Terraform provider and an
// apphost backend: the Backend interface, its request and response types,
// its errors and the input rules every backend applies. It has two
// implementations: core.Service (the admin domain in-process over a store)
// and the HTTP client of a remote server (package client), and it imports
// neither, so the client needs nothing of the domain.
package backend

import (
	"context"
	"time"
)

// Backend is the seam between the provider and an admin backend.
//
// Every method returns a *Error (see errors.go) for failures the caller can
// act on: not found, conflict, invalid input, an account still in use, a
// secret_version that moved since the plan. Its request and response types
// follow it in this file.
type Backend interface {
	CreateAccount(ctx context.Context, req CreateAccountRequest) (*AccountWithSecret, error)
	GetAccount(ctx context.Context, id string) (*Account, error)
	GetAccountByName(ctx context.Context, name string) (*Account, error)
	ListAccounts(ctx context.Context, req ListAccountsRequest) ([]Account, error)
	UpdateAccount(ctx context.Context, req UpdateAccountRequest) (*Account, error)
	RegenerateSecret(ctx context.Context, req RegenerateRequest) (*AccountWithSecret, error)
	DeleteAccount(ctx context.Context, req DeleteAccountRequest) error
	// Login checks an account's ID and secret, counting failures toward the lockout.
	Login(ctx context.Context, req LoginRequest) error

	CreateApp(ctx context.Context, req CreateAppRequest) (*App, error)
	GetApp(ctx context.Context, id string) (*App, error)
	GetAppByName(ctx context.Context, name string) (*App, error)
	ListApps(ctx context.Context, req ListAppsRequest) ([]App, error)
	UpdateApp(ctx context.Context, req UpdateAppRequest) (*App, error)
	// DeleteApp undeploys the app and deletes it with its secrets.
	DeleteApp(ctx context.Context, id string) error
	// DeployApp sets the app meant to be deployed and runs it (its secrets log in).
	DeployApp(ctx context.Context, id string) (*App, error)
	// UndeployApp sets the app not meant to be deployed and stops it.
	UndeployApp(ctx context.Context, id string) (*App, error)

	PutAppSecret(ctx context.Context, req PutAppSecretRequest) (*AppSecret, error)
	GetAppSecret(ctx context.Context, appID, name string) (*AppSecret, error)
	DeleteAppSecret(ctx context.Context, req DeleteAppSecretRequest) error

	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// Close releases the backend's resources.
	Close() error
}

// Account is an API key account as every read returns it: never with its secret.
type Account struct {
	ID                  string    `json:"id"`
	Name                string    `json:"name"`
	Description         string    `json:"description"`
	SecretVersion       int64     `json:"secret_version"`
	SecretCreatedAt     time.Time `json:"secret_created_at"`
	Locked              bool      `json:"locked"`
	FailedLoginAttempts int64     `json:"failed_login_attempts"`
	// Admin accounts may call the server's admin API.
	Admin bool `json:"admin"`
	// ExposeSecret: responses to create and regenerate carry the secret. With
	// false no response ever does; bound app secrets still receive it.
	ExposeSecret bool `json:"expose_secret"`
	// HasSealedSecret: the backend holds the current secret sealed, so it can
	// fill bound app secrets. False for admin accounts and for accounts from
	// an older store until their next regeneration.
	HasSealedSecret bool      `json:"has_sealed_secret"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	// Apps are the names of the apps with an app secret bound to this account, sorted.
	Apps []string `json:"apps"`
}

// AccountWithSecret is returned by create and by regenerate: the only time
// the secret is ever shown, and only when the account's ExposeSecret allows.
type AccountWithSecret struct {
	Account
	// Secret is empty when ExposeSecret is false.
	Secret string `json:"secret,omitempty"`
}

// App is an app on an App Host.
type App struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	AppHost string            `json:"app_host"`
	Version string            `json:"version"`
	Config  map[string]string `json:"config"`
	// Deployed is the desired state: the app is meant to run on its App Host.
	Deployed bool `json:"deployed"`
	// Status is what the App Host is doing: StatusRunning, StatusFailed or StatusStopped.
	// An app can be Deployed and stopped while one of its secrets is being replaced.
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Secrets are the app's secrets (never their values), sorted by name.
	Secrets []AppSecret `json:"secrets"`
}

// Running reports whether the App Host runs the app (running or failing to log in).
func (a App) Running() bool { return a.Status == StatusRunning || a.Status == StatusFailed }

// AppSecret is an app's copy of a key secret. Its value is never returned.
type AppSecret struct {
	AppID   string `json:"app_id"`
	AppName string `json:"app_name"`
	Name    string `json:"name"`
	// AccountID is the key account this secret authenticates as; empty when unbound.
	AccountID string `json:"api_key_account_id"`
	// HasValue reports whether a value is stored.
	HasValue  bool      `json:"has_value"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AuditEvent is one entry of the ordered audit log.
type AuditEvent struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	TargetType string    `json:"target_type"`
	TargetID   string    `json:"target_id"`
	TargetName string    `json:"target_name"`
	Detail     string    `json:"detail"`
}

// CreateAccountRequest creates an API key account with a new secret.
type CreateAccountRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// ExposeSecret: nil means true.
	ExposeSecret *bool `json:"expose_secret,omitempty"`
}

// UpdateAccountRequest changes an account's name and description; never its secret.
type UpdateAccountRequest struct {
	ID          string `json:"-"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// RegenerateRequest rotates an account's secret in one transaction: every app
// meant to be deployed with a secret bound to the account is undeployed, the
// secret is regenerated (same ID, secret_version + 1, unlocked,
// failed_login_attempts 0), sealed into every bound app secret, and the apps
// are deployed again.
type RegenerateRequest struct {
	ID string `json:"-"`
	// ExpectedSecretVersion, when not 0, is the secret_version the caller
	// means to replace: if the account's differs, nothing changes and the call
	// fails with CodeVersionMismatch (plan again).
	ExpectedSecretVersion int64 `json:"expected_secret_version,omitempty"`
	// ExposeSecret, when set, changes the account's ExposeSecret with this
	// regeneration (a change of it is always a rotation).
	ExposeSecret *bool `json:"expose_secret,omitempty"`
	// IdempotencyKey, when set, makes a repeated request with the same key for
	// the same account return the first result (the same secret) instead of
	// regenerating again. Results are kept for IdempotencyWindow. Over HTTP
	// it travels in the IdempotencyKeyHeader header, not in the body.
	IdempotencyKey string `json:"-"`
}

// IdempotencyKeyHeader is the HTTP header of a regenerate's IdempotencyKey.
const IdempotencyKeyHeader = "Idempotency-Key"

// IdempotencyWindow is how long a regenerate result is kept for retries.
const IdempotencyWindow = 24 * time.Hour

// DeleteAccountRequest deletes an account. It is refused (CodeInUse) while
// any app secret is bound to the account.
type DeleteAccountRequest struct {
	ID string `json:"-"`
}

// LoginRequest is a login with an account's ID and secret.
type LoginRequest struct {
	AccountID string `json:"api_key_id"`
	Secret    string `json:"secret"`
}

// ListAccountsRequest filters ListAccounts. Zero values do not filter.
type ListAccountsRequest struct {
	Locked *bool `json:"locked,omitempty"`
}

// CreateAppRequest creates an app; Deployed deploys it at once.
type CreateAppRequest struct {
	Name     string            `json:"name"`
	AppHost  string            `json:"app_host"`
	Version  string            `json:"version"`
	Config   map[string]string `json:"config"`
	Deployed bool              `json:"deployed"`
}

// UpdateAppRequest replaces an app's settings. A change of name, app host,
// version or config while the app runs is applied as undeploy, change, deploy.
// A change of Deployed deploys or undeploys.
type UpdateAppRequest struct {
	ID       string            `json:"-"`
	Name     string            `json:"name"`
	AppHost  string            `json:"app_host"`
	Version  string            `json:"version"`
	Config   map[string]string `json:"config"`
	Deployed bool              `json:"deployed"`
}

// ListAppsRequest filters ListApps. Zero values do not filter.
type ListAppsRequest struct {
	// BoundToAccountID keeps the apps with a secret bound to this account.
	BoundToAccountID string `json:"bound_to_account_id,omitempty"`
	// Running keeps the apps whose Running() is this value.
	Running *bool `json:"running,omitempty"`
	// Deployed keeps the apps whose desired state is this value.
	Deployed *bool  `json:"deployed,omitempty"`
	AppHost  string `json:"app_host,omitempty"`
}

// PutAppSecretRequest stores (creates or changes) an app secret.
//
// Bound (AccountID set) with no Value, the backend fills the secret with the
// account's current secret, now and at every rotation of the account. Bound
// with a Value, the value must be the account's current secret. Unbound, a
// Value is required. A change of the stored value or binding redeploys the
// app if it is meant to be deployed (undeploy, put, deploy); storing what is
// already stored changes nothing.
type PutAppSecretRequest struct {
	AppID     string `json:"-"`
	Name      string `json:"-"`
	AccountID string `json:"api_key_account_id"`
	// Value is the value to store; nil fills a bound secret from its account,
	// or keeps the stored value of an unbound one.
	Value *string `json:"value,omitempty"`
}

// DeleteAppSecretRequest removes an app secret: the app is undeployed, the
// secret removed, and the app deployed again if it is meant to be deployed.
type DeleteAppSecretRequest struct {
	AppID string `json:"-"`
	Name  string `json:"-"`
}

// AuditQuery pages through the audit log, oldest first.
type AuditQuery struct {
	// AfterSeq returns events with a larger sequence number.
	AfterSeq int64 `json:"after_seq,omitempty"`
	// Limit caps the number of events; 0 means all.
	Limit int `json:"limit,omitempty"`
}
