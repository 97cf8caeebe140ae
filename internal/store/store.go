// Package store is the storage seam of the admin domain: one interface,
// implemented by a SQLite file (package sqlite, the embedded default) and by
// PostgreSQL (package postgres), both over the shared SQL of package sqlstore.
//
// The domain runs every change in one Write transaction, so a failed
// multi-step change leaves the store as it was. Writes are serialized across
// processes (SQLite: BEGIN IMMEDIATE on one writer connection; PostgreSQL: a
// transaction-scoped advisory lock), which also keeps the audit log one
// ordered history.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns (wrapped or not; test with errors.Is).
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint (a name) is violated.
	ErrConflict = errors.New("conflict")
	// ErrSchemaNewer: the database was migrated by a newer version of this program.
	ErrSchemaNewer = errors.New("database schema is newer than this program")
	// ErrUnavailable: the database cannot be reached or is busy past the timeout.
	ErrUnavailable = errors.New("store unavailable")
)

// Store opens transactions.
type Store interface {
	// Write runs fn in a write transaction, serialized with every other write
	// to the same database from any process. It commits when fn returns nil and
	// rolls back otherwise, returning fn's error unchanged.
	Write(ctx context.Context, fn func(Tx) error) error
	// Read runs fn in a read-only transaction that sees one consistent snapshot.
	Read(ctx context.Context, fn func(Tx) error) error
	// Close closes the database.
	Close() error
}

// Watcher is a store that can tell when any process changed it, so that a
// process waiting for another's change (a rotation waiting for an App
// Host's report) needs no busy loop. The SQLite store watches its file's
// PRAGMA data_version; the PostgreSQL store LISTENs for the NOTIFY of each
// write transaction.
type Watcher interface {
	// ChangeToken returns the store's current change token.
	ChangeToken(ctx context.Context) (uint64, error)
	// WaitChange returns once the store changed since token was taken, once
	// timeout has passed, or when ctx ends (with its error).
	WaitChange(ctx context.Context, token uint64, timeout time.Duration) error
}

// AccountRow is an API key account as stored.
type AccountRow struct {
	ID          string
	Name        string
	Description string
	SecretHash  []byte // SHA-256 of the secret
	// Admin accounts may call the server's admin API (HTTP Basic auth).
	Admin               bool
	SecretVersion       int64
	SecretCreatedAt     time.Time
	Locked              bool
	FailedLoginAttempts int64
	CreatedAt           time.Time
	UpdatedAt           time.Time
	// ExposeSecret allows responses to carry the secret (create, regenerate).
	ExposeSecret bool
	// SealedSecret is the current secret sealed with the store's key, so that
	// bound app secrets can be filled; nil for admin accounts and for accounts
	// not regenerated since the store was written by an older version.
	SealedSecret []byte
	// AppHost, when set, makes the account that App Host's identity (unique
	// across accounts); such an account is never bound to an app.
	AppHost string
	// PreviousSecrets are the hashes of the account's previous secrets, newest
	// first (stored as JSON): a failed login with one of them is a stale copy
	// and counts toward the lockout wherever it comes from.
	PreviousSecrets []PreviousSecret
	// RotationStrategy is how the account's rotations run (stop_first or
	// overlap); OverlapPeriod bounds an overlap rotation's move (stored in
	// milliseconds).
	RotationStrategy string
	OverlapPeriod    time.Duration
	// PendingSecretHash is the hash of the pending secret of an overlap
	// rotation under way (its secret_version is SecretVersion+1), valid
	// beside the current one; nil when none. PendingSealedSecret is that
	// secret sealed, to fill the app secrets the rotation moves.
	PendingSecretHash   []byte
	PendingSealedSecret []byte
}

// PreviousSecret is a secret an account had before: its hash and version,
// and when it was replaced.
type PreviousSecret struct {
	Hash       []byte    `json:"hash"`
	Version    int64     `json:"version"`
	ReplacedAt time.Time `json:"replaced_at"`
}

// AppRow is an app as stored.
type AppRow struct {
	ID        string
	Name      string
	AppHost   string
	Version   string
	Config    map[string]string // stored as JSON; never nil when read
	Deployed  bool              // desired state
	Status    string            // pending, starting, running, failed or stopped
	CreatedAt time.Time
	UpdatedAt time.Time
	// Paused: meant to be deployed, but stopped while its secrets change (by
	// a rotation or a secret change); started again when the change is done.
	Paused bool
	// StatusDetail says why the app is pending or failed.
	StatusDetail string
	// HeldBy is the ID of the rotation that holds the app ("" when none):
	// nothing else stops, starts or rebinds it until that rotation ends.
	HeldBy string
	// SecretNames are the app secrets the app needs: it is not started until
	// all of them exist.
	SecretNames []string
	// Command is what a real App Host runs (stored as JSON).
	Command      []string
	StopTimeout  time.Duration // stored in milliseconds
	StartTimeout time.Duration // stored in milliseconds
	// ReloadSignal makes the app reread its secret files ("" : none).
	ReloadSignal string
	// Reload: the change of the app's current Generation is its secrets
	// only (an overlap rotation moved it): its App Host rewrites its files
	// and sends ReloadSignal to the running app, or restarts it.
	Reload bool
	// Generation grows with every change of what the App Host must run.
	Generation int64
	// PausedAt is when the app was last stopped for a change of its secrets
	// (zero: it was not): its downtime runs from then to its next healthy start.
	PausedAt time.Time
	// Observed is what the app's App Host last reported (stored as JSON).
	Observed AppObserved
}

// AppObserved is what a real App Host reported of an app.
type AppObserved struct {
	Phase      string    `json:"phase,omitempty"`
	Generation int64     `json:"generation,omitempty"`
	PID        int       `json:"pid,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	ExitCode   int       `json:"exit_code,omitempty"`
	Restarts   int       `json:"restarts,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	StderrTail string    `json:"stderr_tail,omitempty"`
	// TokenHash is the hash of the per-app token of the current process.
	TokenHash  string    `json:"token_hash,omitempty"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
	// ProvenLoginAt is the app's first login that proved who it is since
	// StartedAt (zero: none yet).
	ProvenLoginAt time.Time `json:"proven_login_at,omitzero"`
	// Proves: a process of the app has proven who it is by a login. Kept
	// across its processes: such an app is healthy only on a proven login,
	// never on the uptime rule of apps that say nothing (a new process that
	// has not logged in yet is not taken for one that works).
	Proves bool `json:"proves,omitempty"`
	// ReloadedAt is when the host last sent the current process its reload
	// signal (zero: never): its health counts the logins after it.
	ReloadedAt time.Time `json:"reloaded_at,omitzero"`
}

// AppSecretRow is an app secret as stored.
type AppSecretRow struct {
	AppID     string
	Name      string
	AccountID string // "" when unbound
	// Ciphertext is the sealed value; nil when no value is stored.
	Ciphertext []byte
	UpdatedAt  time.Time
	// AppName is filled by reads (joined from apps); ignored by writes.
	AppName string
	// LoginVersion and LoginAt are the last successful login of the app, as
	// this secret's account, that proved it was the app (0 and zero: none).
	LoginVersion int64
	LoginAt      time.Time
	// PendingVersion is the secret_version of its account's pending secret
	// when the secret holds that one (an overlap rotation moved its app);
	// 0 when it holds the account's current secret.
	PendingVersion int64
}

// AppHostRow is an App Host as the store knows it: its session and the
// revision of its desired state. A name has a row once its desired state
// changed or a host connected.
type AppHostRow struct {
	Name       string
	InstanceID string
	SessionID  string
	Address    string
	Version    string
	Driver     string
	// Revision grows with every change of the host's desired state;
	// AppliedRevision is the one the host last reported it applied.
	Revision        int64
	AppliedRevision int64
	// Forgotten: declared lost (app-hosts forget); the host stops its apps
	// when it connects again.
	Forgotten   bool
	ConnectedAt time.Time // zero: never connected
	LastReport  time.Time
	// OfflineAt is when the host was found offline (zero: not since its
	// last report).
	OfflineAt time.Time
}

// AppSecretFilter selects app secrets; empty fields do not filter.
type AppSecretFilter struct {
	AppID     string
	AccountID string
	// OfAppsBoundTo selects every secret of the apps that have at least one
	// secret bound to this account (the secrets an App Host reloads with).
	OfAppsBoundTo string
	// AppIDs selects the secrets of these apps (one page of them); empty
	// does not filter.
	AppIDs []string
	// AccountIDs selects the secrets bound to these accounts (one page of
	// them); empty does not filter.
	AccountIDs []string
}

// AuditPage selects one page of the audit log, newest first.
type AuditPage struct {
	// BeforeSeq keeps events with a smaller sequence number; 0 does not filter.
	BeforeSeq int64
	// TargetID keeps the events whose target is this ID, or an app secret
	// of it (target ID "TargetID/NAME"); "" does not filter.
	TargetID string
	// Action keeps the events of this action; "" does not filter.
	Action string
	// Limit caps the number of events; it must be at least 1.
	Limit int
}

// RotationRow is a rotation of an account's secret as stored: the durable
// object one driver at a time carries from step to step under a lease.
type RotationRow struct {
	ID          string
	AccountID   string
	AccountName string
	Strategy    string
	// Reason is why the rotation was asked for (the plan's reasons).
	Reason string
	// TriggersHash is the hash of the rotation_triggers the rotation is for
	// ("" when not asked by Terraform).
	TriggersHash string
	// IdempotencyKey and RequestHash identify the request: a retry with the
	// key and the same request gets this rotation's result.
	IdempotencyKey string
	RequestHash    string
	// ExposeSecret, when not nil, is the account's new expose_secret.
	ExposeSecret *bool
	FromVersion  int64
	// ToVersion is the secret_version the rotation committed (0 before).
	ToVersion int64
	State     string
	// Outcome is set when the rotation ends (State is then the same).
	Outcome string
	// Error says why a rotation was refused or ended with failures.
	Error string
	// Owner drives the rotation until LeaseUntil; Rev counts its writes
	// (each step is a compare-and-set on it).
	Owner      string
	LeaseUntil time.Time
	Rev        int64
	Steps      []RotationStepRow // stored as JSON
	// SealedResult is the new secret sealed, kept for the one-time result
	// and for retries (nil when not exposed or once forgotten).
	SealedResult []byte
	// OverlapUntil bounds an overlap rotation's move (zero: stop_first, or
	// not issued yet): it rolls back rather than go past it.
	OverlapUntil time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	EndedAt      time.Time // zero while active
}

// RotationStepRow is what a rotation did to one app.
type RotationStepRow struct {
	AppID   string    `json:"app_id"`
	AppName string    `json:"app_name"`
	AppHost string    `json:"app_host"`
	Phase   string    `json:"phase"`
	Stopped time.Time `json:"stopped_at,omitzero"`
	Started time.Time `json:"started_at,omitzero"`
	Running time.Time `json:"running_at,omitzero"`
	Detail  string    `json:"detail,omitempty"`
	// AckRevision is the revision of its App Host's desired state that the
	// host must have applied before the rotation stops anything (0: a
	// built-in App Host, which needs no answer).
	AckRevision int64 `json:"ack_revision,omitempty"`
	// Deadline bounds the wait for the app's stop or healthy start.
	Deadline time.Time `json:"deadline,omitzero"`
	// Back is when an overlap rotation's rollback gave the app the current
	// secret back (zero: it did not).
	Back time.Time `json:"back_at,omitzero"`
	// KeptStopped: an overlap rotation skipped the app (not running) and
	// keeps it from starting until it ends, then deploys it again.
	KeptStopped bool `json:"kept_stopped,omitempty"`
}

// RotationFilter selects rotations, newest first; empty fields do not filter.
type RotationFilter struct {
	AccountID      string
	IdempotencyKey string
	// ActiveOnly keeps the rotations that have not ended.
	ActiveOnly bool
	// Limit caps the number of rotations; 0 means all.
	Limit int
}

// AuditRow is one audit event. Seq is assigned by AppendAudit.
type AuditRow struct {
	Seq        int64
	Time       time.Time
	Actor      string
	Action     string
	TargetType string
	TargetID   string
	TargetName string
	Detail     string
}

// Tx is one transaction. Methods return ErrNotFound and ErrConflict as above.
// List methods return rows sorted by name (app secrets: by app name, then name).
type Tx interface {
	InsertAccount(ctx context.Context, a AccountRow) error
	GetAccount(ctx context.Context, id string) (AccountRow, error)
	GetAccountByName(ctx context.Context, name string) (AccountRow, error)
	ListAccounts(ctx context.Context) ([]AccountRow, error)
	// ListAccountsPage returns up to limit (at least 1) accounts named
	// after afterName, sorted by name: one page, in one query.
	ListAccountsPage(ctx context.Context, afterName string, limit int) ([]AccountRow, error)
	// UpdateAccount overwrites every field of the row with a.ID.
	UpdateAccount(ctx context.Context, a AccountRow) error
	DeleteAccount(ctx context.Context, id string) error

	InsertApp(ctx context.Context, a AppRow) error
	GetApp(ctx context.Context, id string) (AppRow, error)
	GetAppByName(ctx context.Context, name string) (AppRow, error)
	ListApps(ctx context.Context) ([]AppRow, error)
	// ListAppsPage returns up to limit (at least 1) apps named after
	// afterName, sorted by name: one page, in one query.
	ListAppsPage(ctx context.Context, afterName string, limit int) ([]AppRow, error)
	// ListAppsBoundTo returns the apps with at least one secret bound to
	// account accountID, in one query whatever the number of apps.
	ListAppsBoundTo(ctx context.Context, accountID string) ([]AppRow, error)
	// UpdateApp overwrites every field of the row with a.ID.
	UpdateApp(ctx context.Context, a AppRow) error
	// DeleteApp deletes the app and its secrets.
	DeleteApp(ctx context.Context, id string) error

	// PutAppSecret inserts or overwrites the secret (AppID, Name).
	PutAppSecret(ctx context.Context, s AppSecretRow) error
	GetAppSecret(ctx context.Context, appID, name string) (AppSecretRow, error)
	ListAppSecrets(ctx context.Context, f AppSecretFilter) ([]AppSecretRow, error)
	DeleteAppSecret(ctx context.Context, appID, name string) error

	// AppendAudit stores the event and returns its sequence number, one more
	// than any before it.
	AppendAudit(ctx context.Context, e AuditRow) (int64, error)
	// ListAudit returns events with Seq > afterSeq, oldest first; limit 0 means all.
	ListAudit(ctx context.Context, afterSeq int64, limit int) ([]AuditRow, error)
	// ListAuditPage returns one page of events, newest first (see AuditPage).
	ListAuditPage(ctx context.Context, p AuditPage) ([]AuditRow, error)

	// GetAppHost returns the App Host named name (ErrNotFound without a row).
	GetAppHost(ctx context.Context, name string) (AppHostRow, error)
	// ListAppHosts returns every App Host with a row, sorted by name.
	ListAppHosts(ctx context.Context) ([]AppHostRow, error)
	// PutAppHost inserts or overwrites the App Host h.Name.
	PutAppHost(ctx context.Context, h AppHostRow) error
	// ListAppsOnHost returns the apps whose app_host is name, sorted by name.
	ListAppsOnHost(ctx context.Context, name string) ([]AppRow, error)
	// GetAccountByAppHost returns the App Host account of name.
	GetAccountByAppHost(ctx context.Context, name string) (AccountRow, error)

	InsertRotation(ctx context.Context, r RotationRow) error
	GetRotation(ctx context.Context, id string) (RotationRow, error)
	// UpdateRotation overwrites every field of the row with r.ID.
	UpdateRotation(ctx context.Context, r RotationRow) error
	// ListRotations returns the rotations f selects, newest first.
	ListRotations(ctx context.Context, f RotationFilter) ([]RotationRow, error)
	// ForgetRotationResultsBefore drops the sealed results of rotations
	// created before t (the rows stay, as history).
	ForgetRotationResultsBefore(ctx context.Context, t time.Time) error

	// GetSetting returns a store-wide setting (ErrNotFound when unset).
	GetSetting(ctx context.Context, name string) ([]byte, error)
	// PutSetting inserts or overwrites a store-wide setting.
	PutSetting(ctx context.Context, name string, value []byte) error
	// FirstSealedResult returns the sealed secret of one remembered
	// regenerate result (a rotation's, or an older store's idempotency
	// row), or ErrNotFound when none is stored.
	FirstSealedResult(ctx context.Context) ([]byte, error)
}
