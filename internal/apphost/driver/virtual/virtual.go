// Package virtual is the App Host's virtual driver: it runs no process. An
// app "runs" by logging in once per bound secret at each start and reload,
// from inside the App Host, with a login function the App Host gives it (one
// that logs in over HTTP as the app). It is for scale benchmarks and for
// trying the protocol without real apps.
package virtual

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

// LoginFunc logs in as app with its bound secret s (s.AccountID, s.Value).
// An error fails the app; its text is shown as the app's detail, so it must
// never hold the secret.
type LoginFunc func(ctx context.Context, app driver.Spec, s driver.Secret) error

var _ driver.Driver = (*Driver)(nil)

// Driver is the virtual driver. Make one with New.
type Driver struct {
	login  LoginFunc
	events *driver.Notifier
	now    func() time.Time

	mu     sync.Mutex
	apps   map[string]*app
	closed bool
}

type app struct {
	op    sync.Mutex // one Start, Reload or Stop at a time
	state driver.State
}

// New makes a virtual driver that logs in with login.
func New(login LoginFunc) *Driver {
	if login == nil {
		login = func(context.Context, driver.Spec, driver.Secret) error { return ErrNoLogin }
	}
	return &Driver{login: login, events: driver.NewNotifier(), now: time.Now, apps: map[string]*app{}}
}

// Events implements driver.Driver.
func (d *Driver) Events() <-chan driver.State { return d.events.C() }

// State implements driver.Driver.
func (d *Driver) State(name string) (driver.State, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.apps[name]
	if !ok {
		return driver.State{}, false
	}
	return a.state, true
}

// List implements driver.Driver.
func (d *Driver) List() []driver.State {
	d.mu.Lock()
	out := make([]driver.State, 0, len(d.apps))
	for _, a := range d.apps {
		out = append(out, a.state)
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b driver.State) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Adopt implements driver.Driver: nothing outlives a virtual driver.
func (d *Driver) Adopt(context.Context) ([]driver.State, error) { return nil, nil }

// Start implements driver.Driver: it logs in once per bound secret and
// reports the app running, or failed with the first login's error (a failed
// login is the app's state, not Start's error).
func (d *Driver) Start(ctx context.Context, spec driver.Spec) error {
	return d.run(ctx, spec, false)
}

// Reload implements driver.Driver: the app logs in again with spec's
// secrets, as a real app does when it rereads its files.
func (d *Driver) Reload(ctx context.Context, spec driver.Spec) error {
	return d.run(ctx, spec, true)
}

func (d *Driver) run(ctx context.Context, spec driver.Spec, reload bool) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return driver.ErrClosed
	}
	a, ok := d.apps[spec.Name]
	if !ok {
		a = &app{state: driver.State{Name: spec.Name, Phase: driver.PhaseStopped}}
		d.apps[spec.Name] = a
	}
	d.mu.Unlock()

	a.op.Lock()
	defer a.op.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return driver.ErrClosed
	}
	if !reload && a.state.Phase == driver.PhaseRunning && a.state.Generation == spec.Generation {
		d.mu.Unlock()
		return nil
	}
	restarts := 0
	if a.state.Up() && reload {
		restarts = a.state.Restarts
	}
	// It "started" before it logs in, as a process does: the server counts
	// only the logins after an app's start time for its health.
	a.state = driver.State{Name: spec.Name, Generation: spec.Generation, Phase: driver.PhaseStarting, Restarts: restarts,
		StartedAt: d.now()}
	d.events.Publish(a.state)
	d.mu.Unlock()

	err := d.loginAll(ctx, spec)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		a.state.Phase, a.state.StartedAt, a.state.Detail = driver.PhaseFailed, time.Time{}, err.Error()
	} else {
		a.state.Phase = driver.PhaseRunning
		if reload {
			a.state.Detail = "reloaded"
		}
	}
	d.events.Publish(a.state)
	return nil
}

func (d *Driver) loginAll(ctx context.Context, spec driver.Spec) error {
	ctx, cancel := context.WithTimeout(ctx, spec.StartTimeoutOrDefault())
	defer cancel()
	for _, s := range spec.Secrets {
		if !s.Bound() {
			continue
		}
		if err := d.login(ctx, spec, s); err != nil {
			return fmt.Errorf("login as API key account %s with secret %q failed: %w", s.AccountID, s.Name, err)
		}
	}
	return nil
}

// Stop implements driver.Driver.
func (d *Driver) Stop(_ context.Context, name string) error {
	d.mu.Lock()
	a, ok := d.apps[name]
	d.mu.Unlock()
	if !ok {
		return nil
	}
	a.op.Lock()
	defer a.op.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked(a)
	return nil
}

func (d *Driver) stopLocked(a *app) {
	if a.state.Phase == driver.PhaseStopped {
		return
	}
	a.state.Phase, a.state.StartedAt, a.state.Detail = driver.PhaseStopped, time.Time{}, "stopped"
	d.events.Publish(a.state)
}

// Close implements driver.Driver.
func (d *Driver) Close(context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	apps := make([]*app, 0, len(d.apps))
	for _, a := range d.apps {
		apps = append(apps, a)
	}
	d.mu.Unlock()
	for _, a := range apps {
		a.op.Lock() // wait for a Start in progress
		d.mu.Lock()
		d.stopLocked(a)
		d.mu.Unlock()
		a.op.Unlock()
	}
	d.events.Close()
	return nil
}

// ErrNoLogin is what a nil LoginFunc answers.
var ErrNoLogin = errors.New("the virtual driver was given no login function")
