// Package hostapi is the protocol between an App Host (terraform-provider-apphost
// host) and the admin server: the requests and answers of the App Host's
// routes under /v1/app-hosts/{name}/, and the headers an app sends to prove
// who it is. The server (package server) and the App Host (package apphost)
// both import it; it imports nothing of theirs.
//
// An App Host authenticates with HTTP Basic as its App Host account (an API
// key account whose app_host is the host's name) and:
//
//  1. opens a session (POST .../sessions) with its instance ID: a host
//     restarted with the same instance takes its name over at once, fencing
//     the old session; another instance is refused while the first is online;
//  2. long-polls its desired state (GET .../desired?session=S&after=REV):
//     every app meant to be on the host, whether it should run, its spec
//     and its secrets (the one answer that carries secrets, to this host only);
//  3. reports what runs (POST .../reports) every few seconds and at once on
//     a change: each app's phase, process, generation and the hash of the
//     per-app token it gave the app.
//
// Apps log in at POST /v1/login with HeaderApp and HeaderAppToken, so the
// server can tell which app logged in (health, audit actor).
package hostapi

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Headers an app sends with its logins.
const (
	HeaderApp      = "Apphost-App"
	HeaderAppToken = "Apphost-App-Token"
)

// TokenHash is how a per-app token is registered and checked: SHA-256 in hex.
// The App Host reports the hash; the token itself goes only to the app.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SessionRequest opens a session (POST /v1/app-hosts/{name}/sessions).
type SessionRequest struct {
	// InstanceID is the App Host's identity, kept in its directory.
	InstanceID string `json:"instance_id"`
	Version    string `json:"version"`
	// Driver is "exec" or "virtual".
	Driver string `json:"driver"`
}

// Session is the answer: the session to name in later calls, and how often
// to report.
type Session struct {
	SessionID string `json:"session_id"`
	// ReportIntervalMS is how often the host reports when nothing changes.
	ReportIntervalMS int64 `json:"report_interval_ms"`
	// OfflineAfterMS is how long without a report makes the host offline.
	OfflineAfterMS int64 `json:"offline_after_ms"`
	// Reset: the host was declared lost (app-hosts forget): it must stop
	// every app it runs before it starts anything.
	Reset bool `json:"reset"`
}

// ReportInterval is the session's report interval.
func (s Session) ReportInterval() time.Duration {
	return time.Duration(s.ReportIntervalMS) * time.Millisecond
}

// Desired is the desired state of a host's apps (GET .../desired).
type Desired struct {
	// Revision grows with every change of the host's desired state.
	Revision int64        `json:"revision"`
	Apps     []DesiredApp `json:"apps"`
}

// DesiredApp is one app meant to be on the host.
type DesiredApp struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Generation changes whenever anything below changes.
	Generation int64 `json:"generation"`
	// Run: the app should run; false: it should be stopped (and its secret
	// files removed).
	Run            bool              `json:"run"`
	Command        []string          `json:"command"`
	Config         map[string]string `json:"config"`
	Secrets        []Secret          `json:"secrets"`
	StopTimeoutMS  int64             `json:"stop_timeout_ms"`
	StartTimeoutMS int64             `json:"start_timeout_ms"`
	ReloadSignal   string            `json:"reload_signal,omitempty"`
	// Reload: this generation changes the app's secrets only (an overlap
	// rotation moves it to another secret). An app that runs gets its new
	// secret files and ReloadSignal, and keeps its process; without a
	// ReloadSignal, or if it does not run, it is started as for any
	// generation.
	Reload bool `json:"reload,omitempty"`
}

// Secret is one app secret with its value.
type Secret struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// AccountID is the API key account it is bound to ("" when unbound).
	AccountID string `json:"api_key_id,omitempty"`
}

// Report is what the host runs (POST .../reports).
type Report struct {
	SessionID string `json:"session_id"`
	// Revision is the desired state's revision the host has applied.
	Revision int64       `json:"revision"`
	Apps     []AppReport `json:"apps"`
}

// App phases as a host reports them.
const (
	PhaseStarting = "starting"
	PhaseRunning  = "running"
	PhaseExited   = "exited" // exited; restarted after a backoff
	PhaseFailed   = "failed" // kept exiting; not restarted
	PhaseStopped  = "stopped"
)

// AppReport is one app on the host.
type AppReport struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	Phase      string `json:"phase"`
	PID        int    `json:"pid,omitempty"`
	// StartedAt is when the app's current process started.
	StartedAt time.Time `json:"started_at,omitzero"`
	ExitCode  int       `json:"exit_code,omitempty"`
	Restarts  int       `json:"restarts,omitempty"`
	// Detail and StderrTail say why an app exited or failed.
	Detail     string `json:"detail,omitempty"`
	StderrTail string `json:"stderr_tail,omitempty"`
	// TokenHash is TokenHash of the token the app's current process holds.
	TokenHash string `json:"token_hash,omitempty"`
	// ReloadedAt is when the host last sent the current process its
	// reload signal (zero: never).
	ReloadedAt time.Time `json:"reloaded_at,omitzero"`
}

// ReportAnswer tells the host the desired state's current revision, so that
// it fetches a newer one at once.
type ReportAnswer struct {
	Revision int64 `json:"revision"`
}

// Error codes of the App Host routes (besides the API's own).
const (
	// CodeInUse: another instance holds the name and is online.
	CodeInUse = "app_host_in_use"
	// CodeFenced: the session was replaced (a newer session of the same
	// instance, or app-hosts forget): the host must open a new one.
	CodeFenced = "app_host_fenced"
)
