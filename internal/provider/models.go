package provider

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
)

// What several resources and data sources share: descriptions of the same
// attribute, and how values are rendered in state and in messages.

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
	descAccountAppHost = "The name of the App Host whose identity this account is: a `terraform-provider-apphost " +
		"host --name NAME` process logs in as it (the key ID in `APPHOST_API_KEY_ID`, the secret in a file), and " +
		"may then read the desired state and the secrets of the apps whose `app_host` is NAME and report their " +
		"status, nothing else. Unique across accounts; such an account is never bound to an app. An `app_host` " +
		"that no account claims is served by the backend's built-in App Host."
	descAccountApps = "Names of the apps with an app secret bound to this account, sorted. A rotation of the " +
		"account redeploys the ones meant to be deployed."
)

// Descriptions of the app attributes that apphost_app and both app data
// sources share.
const (
	descAppStatus = "What the App Host is doing with the app: `pending` (meant to run, but waiting for its App " +
		"Host to connect or for a secret in `secret_names`: `status_detail` says which), `starting`, `running`, " +
		"`failed` (it keeps exiting, did not become healthy within `start_timeout`, or cannot log in: a stale " +
		"secret or a locked account; `status_detail` says why) or `stopped`."
	descAppStatusDetail = "Why the app is `pending`, `starting` or `failed`, such as the App Host it waits for, the " +
		"missing secret, or its exit code and the last lines of its stderr; empty when there is nothing to say."
)

// appHostValue is an account's app_host as state keeps it: null when the
// account is no App Host's.
func appHostValue(name string) types.String {
	if name == "" {
		return types.StringNull()
	}
	return types.StringValue(name)
}

// formatTime renders a backend time as RFC 3339 in UTC, or "" for the zero
// time: the one time format of every resource and data source.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// nonNilStrings returns s, or an empty slice for nil, so that the state
// holds an empty list rather than null.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// joinNames joins names for a message: "a", "b" and "c".
func joinNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	switch len(q) {
	case 0:
		return "(none)"
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
