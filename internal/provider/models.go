package provider

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
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

// Descriptions of an account's rotation settings, shared by
// apphost_api_key_account and both account data sources.
var (
	descAccountRotationStrategy = "How a rotation moves the apps bound to the account to its new secret: " +
		"`\"" + backend.StrategyStopFirst + "\"` stops them, regenerates the secret and starts them again (each app is " +
		"down for its restart; the only choice when the keys hold one secret); `\"" + backend.StrategyOverlap + "\"` " +
		"issues a pending secret valid beside the current one and moves the apps to it one at a time, in app name " +
		"order, the first as a canary, each confirmed `running` on it before the next; if one does not become " +
		"healthy, every app moved goes back and the rotation is rolled back, the key as before. See the guide " +
		"\"Zero-downtime rotation\"."
	descAccountOverlapPeriod = "How long an `overlap` rotation may take to move the apps bound to the account to its " +
		"pending secret (a Go duration, up to `" + shortDuration(backend.MaxOverlapPeriod) + "`): one that cannot " +
		"finish in it rolls back before it runs out."
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

// rotationStrategyValue is an account's rotation_strategy as state keeps
// it: an older server that has none rotates stop_first.
func rotationStrategyValue(s string) types.String {
	if s == "" {
		return types.StringValue(backend.StrategyStopFirst)
	}
	return types.StringValue(s)
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

// shortDuration writes d as a user writes it: "15m" for 15m0s, "24h" for
// 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
