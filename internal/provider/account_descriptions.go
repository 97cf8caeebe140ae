package provider

// Descriptions of the account attributes that apphost_api_key_account and
// both account data sources share, so that the docs say one thing.
const (
	descAccountLocked = "Whether the account is locked after too many failed logins. A locked account rejects " +
		"even the right secret until its secret is rotated."
	descAccountFailedLogins  = "Failed logins since the last successful login or rotation."
	descAccountSecretVersion = "The version of the account's secret: 1 at creation, one more at each rotation."
	descAccountSecretCreated = "When the current secret was created (RFC 3339, UTC)."
	descAccountExposeSecret  = "Whether the backend shows the account's secret at create and at each rotation. " +
		"With `false`, no backend response ever carries it; bound app secrets still receive it."
	descAccountApps = "Names of the apps with an app secret bound to this account, sorted. A rotation of the " +
		"account redeploys the ones meant to be deployed."
)
