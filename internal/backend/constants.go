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
	StepRestored = "restored" // started again on the current secret (refused)
	StepSkipped  = "skipped"  // not meant to run: receives the secret, not started
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
