package backend

import "time"

// Defaults of the domain.
const (
	// DefaultLockoutThreshold is how many failed logins lock an account.
	DefaultLockoutThreshold = 5
	// DefaultAppHost is the App Host an app runs on unless told otherwise.
	DefaultAppHost = "default"
	// MaxNameLength bounds account, app, app host and app secret names.
	MaxNameLength = 128
	// MaxDescriptionLength bounds descriptions.
	MaxDescriptionLength = 1024
	// MaxConfigEntries bounds the number of entries of an app's config.
	MaxConfigEntries = 256
	// MaxConfigValueLength bounds a config key or value.
	MaxConfigValueLength = 4096
	// MaxSecretValueLength bounds an app secret value.
	MaxSecretValueLength = 8192
)

// App status values: what the App Host is actually doing with an app.
const (
	// StatusPending: meant to run, but waiting: for a secret it needs
	// (secret_names) or for its App Host; StatusDetail says which.
	StatusPending = "pending"
	// StatusStarting: started, not yet healthy.
	StatusStarting = "starting"
	// StatusRunning: deployed, and its last login succeeded (or it needs none).
	StatusRunning = "running"
	// StatusFailed: deployed, but it cannot log in (stale secret or locked
	// account), keeps exiting, or did not become healthy.
	StatusFailed = "failed"
	// StatusStopped: not running on the App Host.
	StatusStopped = "stopped"
)

// App Host states.
const (
	AppHostBuiltIn = "built_in"
	AppHostUnknown = "unknown"
	AppHostOnline  = "online"
	AppHostOffline = "offline"
)

// Defaults of an app's runtime.
const (
	DefaultStopTimeout  = 10 * time.Second
	DefaultStartTimeout = 60 * time.Second
	// MaxAppTimeout bounds stop_timeout and start_timeout (whole
	// milliseconds, positive).
	MaxAppTimeout = 24 * time.Hour
	// MaxCommandArgs bounds an app's command.
	MaxCommandArgs = 256
)

// ReloadSignals are the signals an app's reload_signal may name.
var ReloadSignals = []string{"SIGHUP", "SIGUSR1", "SIGUSR2"}

// Rotation strategies.
const (
	// StrategyStopFirst is the hand procedure's order: stop the bound apps,
	// regenerate, seal, start them.
	StrategyStopFirst = "stop_first"
	// StrategyOverlap issues a pending secret while the current one stays
	// valid, moves the bound apps to it one at a time (the first as a
	// canary: new secret files, then reload_signal or a restart), and makes
	// it current once every app runs on it; if one does not, every app
	// moved goes back and the pending secret is revoked (rolled back).
	StrategyOverlap = "overlap"
)

// RotationStrategies are the strategies an account's rotation_strategy may name.
var RotationStrategies = []string{StrategyStopFirst, StrategyOverlap}

// Bounds of an account's overlap_period: how long an overlap rotation may
// take to move its apps before it rolls back.
const (
	DefaultOverlapPeriod = 15 * time.Minute
	MaxOverlapPeriod     = 24 * time.Hour
)

// Rotation states. A rotation is active until it reaches one of the outcomes.
const (
	// RotationPreparing: the bound apps are held; their App Hosts must answer.
	RotationPreparing = "preparing"
	// RotationStopping: the bound apps are being stopped.
	RotationStopping = "stopping"
	// RotationRegenerating: every app is stopped; the secret is regenerated
	// and sealed into the bound app secrets in one store transaction.
	RotationRegenerating = "regenerating"
	// RotationStarting: the apps are being started with the new secret.
	RotationStarting = "starting"
	// RotationRestoring: refused after some apps stopped: they are started
	// again on the current secret.
	RotationRestoring = "restoring"
	// RotationIssuing (overlap): the bound apps are held; a pending secret
	// is issued while the current one stays valid.
	RotationIssuing = "issuing"
	// RotationMoving (overlap): the apps move to the pending secret one at
	// a time; when the last runs on it, it becomes current.
	RotationMoving = "moving"
	// RotationRollingBack (overlap): an app did not become healthy on the
	// pending secret (or overlap_period ran out): every app moved goes back
	// to the current secret, then the pending one is revoked.
	RotationRollingBack = "rolling_back"

	// RotationDone: regenerated, and every app runs on the new secret.
	RotationDone = "done"
	// RotationDoneWithFailures: regenerated, but some apps did not become
	// healthy on the new secret.
	RotationDoneWithFailures = "done_with_failures"
	// RotationRefused: nothing was regenerated; every app runs as before.
	RotationRefused = "refused"
	// RotationRolledBack: an overlap rotation undone; nothing changed.
	RotationRolledBack = "rolled_back"
)

// Phases of an app in a rotation.
const (
	StepHeld     = "held"     // held; not stopped yet
	StepStopping = "stopping" // asked to stop; its App Host has not confirmed yet
	StepStopped  = "stopped"  // stopped for the rotation
	StepStarted  = "started"  // started with the new secret
	StepRunning  = "running"  // healthy on the new secret
	StepFailed   = "failed"   // did not become healthy on the new secret
	StepRestored = "restored" // started again on the current secret (refused), or moved back to it (rolled back)
	StepSkipped  = "skipped"  // not meant to run: receives the secret, not started
	// Overlap rotations.
	StepMoving    = "moving"    // given the pending secret; not running on it yet
	StepMoved     = "moved"     // runs on the pending secret
	StepRestoring = "restoring" // given the current secret back (a rollback); not running on it yet
)

// Audit actions, exactly as DESIGN.md names them.
const (
	ActionAccountCreate     = "api_key_account.create"
	ActionAccountUpdate     = "api_key_account.update"
	ActionAccountDelete     = "api_key_account.delete"
	ActionAccountRegenerate = "api_key_account.regenerate"
	ActionAccountLock       = "api_key_account.lock"
	ActionLoginSuccess      = "login.success"
	ActionLoginFailure      = "login.failure"
	ActionAppCreate         = "app.create"
	ActionAppUpdate         = "app.update"
	ActionAppDelete         = "app.delete"
	ActionAppDeploy         = "app.deploy"
	ActionAppReload         = "app.reload"
	ActionAppUndeploy       = "app.undeploy"
	ActionAppStatus         = "app.status"
	ActionAppSecretPut      = "app_secret.put"
	ActionAppSecretDelete   = "app_secret.delete"
	ActionRotationStart     = "rotation.start"
	ActionRotationStep      = "rotation.step"
	ActionRotationEnd       = "rotation.end"
	ActionAppHostConnect    = "app_host.connect"
	ActionAppHostOffline    = "app_host.offline"
	ActionAppHostForget     = "app_host.forget"
)

// Audit target types.
const (
	TargetAccount   = "api_key_account"
	TargetApp       = "app"
	TargetAppSecret = "app_secret"
	TargetRotation  = "rotation"
	TargetAppHost   = "app_host"
)
