// Package driver is the seam between an App Host and the way it runs apps:
// the Driver interface that the exec driver (a process per app) and the
// virtual driver (no process, logins only) implement, and the types they
// share. The App Host tells a driver what to run (a Spec) and learns what
// runs (a State) from Events, State and List.
package driver

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Driver runs apps on one machine. Its methods are safe for concurrent use;
// calls for one app are carried out one at a time.
type Driver interface {
	// Start starts the app, or restarts it when it runs with another
	// Generation; an app that runs with spec's Generation is left alone. It
	// returns once the app was started (the exec driver: the process exists),
	// not once it is healthy: health is the server's business.
	Start(ctx context.Context, spec Spec) error
	// Reload gives a running app spec's secrets and config: it rewrites the
	// app's files, then sends spec.ReloadSignal, or restarts the app when
	// there is none. Reload of an app that is not running is Start.
	Reload(ctx context.Context, spec Spec) error
	// Stop stops the app (SIGTERM to its process group, SIGKILL after its
	// StopTimeout), returns once every process of it is gone, and removes
	// its secrets. Stopping an unknown or stopped app does nothing.
	Stop(ctx context.Context, name string) error
	// State is the app's current state; false when the driver knows no app
	// of that name.
	State(name string) (State, bool)
	// List is the state of every app the driver knows, sorted by name.
	List() []State
	// Adopt finds the apps that a previous App Host process left running in
	// the same place, and takes them over (returned, Adopted set) or stops
	// them: never two processes of one app. Start, Reload and Stop adopt
	// first when the App Host did not.
	Adopt(ctx context.Context) ([]State, error)
	// Events delivers state changes, so that the App Host reports without
	// polling. Changes of one app may be coalesced: the latest state of each
	// app is always delivered. The channel is closed by Close.
	Events() <-chan State
	// Close stops every app, each within its StopTimeout, and then the
	// driver; later calls of Start and Reload return ErrClosed.
	Close(ctx context.Context) error
}

// ErrClosed is returned by Start and Reload after Close.
var ErrClosed = errors.New("the driver is closed: the App Host is shutting down")

// Spec is what an App Host is told to run: one app, as the server's desired
// state describes it.
type Spec struct {
	// Name is the app's name (backend.NamePattern); it names its directory.
	Name string
	// Command is the program and its arguments (the exec driver).
	Command []string
	// Config is the app's non-secret settings, written to app.config.
	Config map[string]string
	// Secrets are the app's secrets, each in secrets/NAME.
	Secrets []Secret
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL
	// (DefaultStopTimeout when zero).
	StopTimeout time.Duration
	// StartTimeout is how long a start may take to become healthy
	// (DefaultStartTimeout when zero).
	StartTimeout time.Duration
	// ReloadSignal ("SIGHUP", ...) makes the app reread its files; "" means
	// a reload restarts it.
	ReloadSignal string
	// Generation changes whenever anything above changes.
	Generation int64
	// AppToken is the per-app token that the app presents to the server
	// (APPHOST_APP_TOKEN). A credential: never printed.
	AppToken string
}

// Defaults of a Spec's timeouts (the apphost_app defaults).
const (
	DefaultStopTimeout  = 10 * time.Second
	DefaultStartTimeout = 60 * time.Second
)

// StopTimeoutOrDefault is s.StopTimeout, or DefaultStopTimeout when unset.
func (s Spec) StopTimeoutOrDefault() time.Duration {
	if s.StopTimeout > 0 {
		return s.StopTimeout
	}
	return DefaultStopTimeout
}

// StartTimeoutOrDefault is s.StartTimeout, or DefaultStartTimeout when unset.
func (s Spec) StartTimeoutOrDefault() time.Duration {
	if s.StartTimeout > 0 {
		return s.StartTimeout
	}
	return DefaultStartTimeout
}

// String names the app; it never shows a secret or the token.
func (s Spec) String() string {
	return fmt.Sprintf("app %q (generation %d)", s.Name, s.Generation)
}

// GoString is String, so that %#v shows no secret either.
func (s Spec) GoString() string { return s.String() }

// Secret is one app secret.
type Secret struct {
	// Name is the secret's name (backend.NamePattern): secrets/NAME and the
	// app.config line NAME = $NAME.
	Name string
	// Value is the secret. Never printed.
	Value string
	// AccountID is the API key account the secret is bound to ("" for an
	// unbound secret): app.config says NAME_api_key_id = AccountID, and the
	// app logs in with it.
	AccountID string
}

// Bound reports whether the secret authenticates as an API key account.
func (s Secret) Bound() bool { return s.AccountID != "" }

// String names the secret and never shows its value.
func (s Secret) String() string {
	if s.Bound() {
		return fmt.Sprintf("secret %q (bound to %s)", s.Name, s.AccountID)
	}
	return fmt.Sprintf("secret %q", s.Name)
}

// GoString is String, so that %#v shows no value either.
func (s Secret) GoString() string { return s.String() }

// Phase is where an app is in its life on the App Host.
type Phase string

// Phases. Running means that the app's process is up (the virtual driver:
// that its logins succeeded); whether it is healthy is the server's call.
const (
	// PhaseStarting: its files are being written and its process started.
	PhaseStarting Phase = "starting"
	// PhaseRunning: its process is up.
	PhaseRunning Phase = "running"
	// PhaseExited: its process exited and is restarted after a backoff.
	PhaseExited Phase = "exited"
	// PhaseFailed: it kept exiting (or could not be started); it is not
	// restarted until the next Start.
	PhaseFailed Phase = "failed"
	// PhaseStopped: it was stopped, or it is not running.
	PhaseStopped Phase = "stopped"
)

// State is what a driver knows of one app.
type State struct {
	Name string
	// Generation is the Spec generation the app runs (or last ran) with; 0
	// for an app adopted from a record that did not say.
	Generation int64
	Phase      Phase
	// PID is the process's ID (its process group's too); 0 when none runs.
	PID int
	// StartedAt is when the current process started (zero when none runs).
	StartedAt time.Time
	// ExitCode is the last exit's status (128+N when killed by signal N, -1
	// when unknown: an adopted process); meaningful after an exit.
	ExitCode int
	// Restarts counts the restarts after an exit since the last Start.
	Restarts int
	// LogTail is the last lines of the app's log (its stdout and stderr),
	// set when the app exited or failed.
	LogTail string
	// Detail says why, in words, for status_detail.
	Detail string
	// Adopted is set when the process was started by an earlier App Host
	// process and taken over.
	Adopted bool
}

// Up reports whether the app has a live process (or, virtual, is running).
func (s State) Up() bool { return s.Phase == PhaseRunning || s.Phase == PhaseStarting }
