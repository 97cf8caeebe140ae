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

	// GetRotation returns a rotation, active or ended.
	GetRotation(ctx context.Context, id string) (*Rotation, error)
	// ListRotations returns rotations, newest first.
	ListRotations(ctx context.Context, req ListRotationsRequest) ([]Rotation, error)
	// RotationResult returns the account as a rotation left it, with the new
	// secret where the account's expose_secret allows, to the holder of the
	// rotation's idempotency key.
	RotationResult(ctx context.Context, req RotationResultRequest) (*AccountWithSecret, error)

	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// ListAppHosts returns every App Host: the real ones (with an App Host
	// account) and the built-in one of each other app_host in use.
	ListAppHosts(ctx context.Context) ([]AppHost, error)

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
	HasSealedSecret bool `json:"has_sealed_secret"`
	// AppHost, when set, makes the account the identity of that App Host:
	// it may read that host's desired state and report its apps, nothing
	// else, and is never bound to an app.
	AppHost string `json:"app_host,omitempty"`
	// RotationStrategy is StrategyStopFirst or StrategyOverlap: how the
	// account's rotations move its apps to a new secret.
	RotationStrategy string `json:"rotation_strategy"`
	// OverlapPeriod (a Go duration) bounds an overlap rotation's move: one
	// that cannot finish in it rolls back.
	OverlapPeriod string `json:"overlap_period"`
	// PendingSecretVersion is the secret_version of the pending secret of an
	// overlap rotation under way (valid beside the current one), 0 when none.
	PendingSecretVersion int64     `json:"pending_secret_version,omitempty"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
	// Apps are the names of the apps with an app secret bound to this account, sorted.
	Apps []string `json:"apps"`
}

// AccountWithSecret is returned by create and by regenerate: the only time
// the secret is ever shown, and only when the account's ExposeSecret allows.
type AccountWithSecret struct {
	Account
	// Secret is empty when ExposeSecret is false.
	Secret string `json:"secret,omitempty"`
	// Rotation is the rotation that regenerated the secret (regenerate only).
	Rotation *Rotation `json:"rotation,omitempty"`
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
	// Status is what the App Host is doing: StatusPending, StatusStarting,
	// StatusRunning, StatusFailed or StatusStopped. An app can be Deployed and
	// stopped while one of its secrets is being replaced.
	Status string `json:"status"`
	// StatusDetail says why an app is pending or failed.
	StatusDetail string `json:"status_detail"`
	// SecretNames are the app secrets the app needs: it does not start
	// until all of them exist, and stops while one is missing.
	SecretNames []string `json:"secret_names"`
	// HeldBy is the ID of the rotation that holds the app, if any.
	HeldBy string `json:"held_by,omitempty"`
	AppRuntime
	// Process is what a real App Host last reported of the app's process
	// (nil on the built-in App Host).
	Process   *AppProcess `json:"process,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	// Secrets are the app's secrets (never their values), sorted by name.
	Secrets []AppSecret `json:"secrets"`
}

// AppRuntime is how a real App Host runs an app.
type AppRuntime struct {
	// Command is the program and its arguments.
	Command []string `json:"command,omitempty"`
	// StopTimeout (a Go duration, "" : DefaultStopTimeout) is how long a stop
	// waits after SIGTERM before SIGKILL.
	StopTimeout string `json:"stop_timeout,omitempty"`
	// StartTimeout (a Go duration, "" : DefaultStartTimeout) is how long a
	// start may take to become healthy.
	StartTimeout string `json:"start_timeout,omitempty"`
	// ReloadSignal makes the app reread its secret files, such as "SIGHUP".
	ReloadSignal string `json:"reload_signal,omitempty"`
}

// AppProcess is an app's process as its App Host reported it.
type AppProcess struct {
	Phase      string    `json:"phase"`
	PID        int       `json:"pid,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	Restarts   int       `json:"restarts,omitempty"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
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

// AppHost is an App Host as the backend knows it.
type AppHost struct {
	Name string `json:"name"`
	// BuiltIn: no App Host account claims the name; the backend's built-in
	// App Host runs its apps (no process: each app logs in once at each start).
	BuiltIn bool `json:"built_in"`
	// State is AppHostUnknown (never connected), AppHostOnline,
	// AppHostOffline, or AppHostBuiltIn.
	State      string     `json:"state"`
	Address    string     `json:"address,omitempty"`
	InstanceID string     `json:"instance_id,omitempty"`
	Version    string     `json:"version,omitempty"`
	Driver     string     `json:"driver,omitempty"`
	LastReport *time.Time `json:"last_report,omitempty"`
	// Forgotten: declared lost; it stops its apps when it comes back.
	Forgotten bool `json:"forgotten,omitempty"`
	// Apps are the names of the apps on the host, sorted.
	Apps []string `json:"apps"`
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
	// AppHost makes the account the identity of the App Host of that name
	// (unique across accounts).
	AppHost string `json:"app_host,omitempty"`
	// RotationStrategy ("" : StrategyStopFirst) and OverlapPeriod (a Go
	// duration, "" : DefaultOverlapPeriod): see Account.
	RotationStrategy string `json:"rotation_strategy,omitempty"`
	OverlapPeriod    string `json:"overlap_period,omitempty"`
}

// UpdateAccountRequest changes an account's name, description and rotation
// settings; never its secret.
type UpdateAccountRequest struct {
	ID          string `json:"-"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// RotationStrategy and OverlapPeriod: "" keeps the account's.
	RotationStrategy string `json:"rotation_strategy,omitempty"`
	OverlapPeriod    string `json:"overlap_period,omitempty"`
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
	// regenerating again. Results are kept for IdempotencyWindow. The same key
	// with another request is refused (CodeIdempotencyMismatch). Over HTTP it
	// travels in the IdempotencyKeyHeader header, not in the body.
	IdempotencyKey string `json:"-"`
	// Reason says why the rotation is asked for (recorded with it).
	Reason string `json:"reason,omitempty"`
	// TriggersHash is TriggersHash of the rotation_triggers the rotation is
	// for, recorded with it, so that a refresh can adopt a rotation that an
	// interrupted apply committed.
	TriggersHash string `json:"triggers_hash,omitempty"`
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
	// App and AppToken say which app logs in (the server takes them from
	// the Apphost-App and Apphost-App-Token headers): a login with the
	// token the app's App Host registered counts for the app's health and
	// is audited as the app.
	App      string `json:"-"`
	AppToken string `json:"-"`
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
	// SecretNames are the app secrets the app needs before it starts.
	SecretNames []string `json:"secret_names,omitempty"`
	AppRuntime
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
	// SecretNames are the app secrets the app needs before it starts.
	SecretNames []string `json:"secret_names,omitempty"`
	AppRuntime
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
