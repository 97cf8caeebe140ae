package backend

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
	// StatusRunning: deployed, and its last login succeeded (or it needs none).
	StatusRunning = "running"
	// StatusFailed: deployed, but it cannot log in (stale secret or locked account).
	StatusFailed = "failed"
	// StatusStopped: not running on the App Host.
	StatusStopped = "stopped"
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
	ActionAppSecretPut      = "app_secret.put"
	ActionAppSecretDelete   = "app_secret.delete"
)

// Audit target types.
const (
	TargetAccount   = "api_key_account"
	TargetApp       = "app"
	TargetAppSecret = "app_secret"
)
