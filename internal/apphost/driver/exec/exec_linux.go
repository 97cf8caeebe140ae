package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

var _ driver.Driver = (*Driver)(nil)

// Driver is the exec driver. Make one with New.
type Driver struct {
	opts    Options
	dir     string // absolute DIR
	appsDir string
	lock    *os.File // DIR/lock, flocked while the driver lives
	events  *driver.Notifier
	log     *slog.Logger

	adoptMu sync.Mutex // held while adopting; guards adopted
	adopted bool

	mu     sync.Mutex // guards apps, closed and every app's fields marked so
	apps   map[string]*app
	closed bool

	stopRotate chan struct{}
	rotateDone chan struct{}
}

// New makes the driver for directory opts.Dir: it creates it (0700, and
// makes an existing one 0700) and locks it, so that a second App Host
// process in the same directory is refused. It starts nothing and adopts
// nothing: call Adopt, or let the first Start, Reload or Stop do it.
func New(opts Options) (*Driver, error) {
	if opts.Dir == "" {
		return nil, errors.New("the exec driver needs a directory: set --dir (default .apphost/host-NAME)")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.CAFile != "" {
		if opts.CAFile, err = filepath.Abs(opts.CAFile); err != nil {
			return nil, err
		}
	}
	opts = opts.withDefaults()
	if err := mkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("making the App Host directory %s: %w", dir, err)
	}
	appsDir := filepath.Join(dir, "apps")
	if err := mkdirPrivate(appsDir); err != nil {
		return nil, fmt.Errorf("making %s: %w", appsDir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another App Host process runs in %s (it holds %s): stop it, or give this one another --dir",
				dir, filepath.Join(dir, "lock"))
		}
		return nil, fmt.Errorf("locking %s: %w", filepath.Join(dir, "lock"), err)
	}
	d := &Driver{
		opts: opts, dir: dir, appsDir: appsDir, lock: lock,
		events: driver.NewNotifier(), log: opts.Logger,
		apps:       map[string]*app{},
		stopRotate: make(chan struct{}), rotateDone: make(chan struct{}),
	}
	go d.rotateLogs()
	return d, nil
}

// Dir is the driver's absolute directory.
func (d *Driver) Dir() string { return d.dir }

// AppDir is the absolute directory of app name: DIR/apps/NAME.
func (d *Driver) AppDir(name string) string { return filepath.Join(d.appsDir, name) }

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
	slices.SortFunc(out, func(a, b driver.State) int { return cmpString(a.Name, b.Name) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Start implements driver.Driver.
func (d *Driver) Start(ctx context.Context, spec driver.Spec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	if _, err := d.Adopt(ctx); err != nil {
		return err
	}
	a, err := d.appFor(spec.Name)
	if err != nil {
		return err
	}
	a.op.Lock()
	defer a.op.Unlock()
	return a.start(ctx, spec)
}

// Reload implements driver.Driver.
func (d *Driver) Reload(ctx context.Context, spec driver.Spec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	if _, err := d.Adopt(ctx); err != nil {
		return err
	}
	a, err := d.appFor(spec.Name)
	if err != nil {
		return err
	}
	a.op.Lock()
	defer a.op.Unlock()
	return a.reload(ctx, spec)
}

// Stop implements driver.Driver.
func (d *Driver) Stop(ctx context.Context, name string) error {
	if _, err := d.Adopt(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	a, ok := d.apps[name]
	d.mu.Unlock()
	if !ok {
		// Unknown: nothing runs (Adopt found nothing), but leave no secret.
		if err := driver.ValidateName(name); err != nil {
			return err
		}
		return removeSecrets(d.AppDir(name))
	}
	a.op.Lock()
	defer a.op.Unlock()
	return a.stop(ctx)
}

// Close implements driver.Driver: it stops every app at once, each within
// its stop timeout, then releases the directory.
func (d *Driver) Close(ctx context.Context) error {
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

	errs := make([]error, len(apps))
	var wg sync.WaitGroup
	for i, a := range apps {
		wg.Go(func() {
			a.op.Lock()
			defer a.op.Unlock()
			errs[i] = a.stop(ctx)
		})
	}
	wg.Wait()
	close(d.stopRotate)
	<-d.rotateDone
	d.events.Close()
	_ = d.lock.Close() // releases the flock
	return errors.Join(errs...)
}

// appFor returns the app named name, made if new; ErrClosed after Close.
func (d *Driver) appFor(name string) (*app, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, driver.ErrClosed
	}
	a, ok := d.apps[name]
	if !ok {
		a = d.newApp(name)
		d.apps[name] = a
	}
	return a, nil
}

func (d *Driver) newApp(name string) *app {
	return &app{d: d, name: name, dir: d.AppDir(name),
		state: driver.State{Name: name, Phase: driver.PhaseStopped}}
}

// publish sends a's state as an event. Callers hold d.mu.
func (d *Driver) publish(a *app) { d.events.Publish(a.state) }

func checkSpec(spec driver.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return fmt.Errorf("%s has no command: the exec driver runs the app's command", spec)
	}
	return nil
}

// Adopt implements driver.Driver. The first call looks at every app
// directory: an app whose recorded process still runs (same PID and start
// time) is taken over as running; the processes left of an app whose leader
// is gone, and any process group started for an app directory without a
// record (the App Host died between starting it and recording it), are
// stopped. Later calls return the adopted apps that still run.
func (d *Driver) Adopt(ctx context.Context) ([]driver.State, error) {
	d.adoptMu.Lock()
	defer d.adoptMu.Unlock()
	if !d.adopted {
		if err := d.adopt(ctx); err != nil {
			return nil, err
		}
		d.adopted = true
	}
	var out []driver.State
	for _, s := range d.List() {
		if s.Adopted && s.Up() {
			out = append(out, s)
		}
	}
	return out, nil
}

func (d *Driver) adopt(ctx context.Context) error {
	ents, err := os.ReadDir(d.appsDir)
	if err != nil {
		return err
	}
	byDir, err := leadersByEnv(envAppDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || driver.ValidateName(name) != nil {
			continue
		}
		appDir := d.AppDir(name)
		adopted, err := d.adoptOne(ctx, name, appDir)
		if err != nil {
			errs = append(errs, err)
		}
		// Process groups started for this directory that no record names.
		for _, st := range byDir[appDir] {
			if adopted != nil && st.pid == adopted.pid {
				continue
			}
			d.log.Warn("stopping an unrecorded process of app", "app", name, "pid", st.pid)
			p := &proc{pid: st.pid, startTicks: st.startTicks, exited: make(chan struct{})}
			go p.watch(d.opts.PollInterval)
			if err := d.terminate(ctx, p, driver.DefaultStopTimeout); err != nil {
				errs = append(errs, fmt.Errorf("app %q: %w", name, err))
			}
		}
		if adopted == nil {
			if err := removeSecrets(appDir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// adoptOne takes over app name's recorded process if it still runs, and
// returns it; else it stops what is left of its group and returns nil.
func (d *Driver) adoptOne(ctx context.Context, name, appDir string) (*proc, error) {
	rec, ok, err := readRecord(appDir)
	if err != nil {
		d.log.Warn("ignoring an unreadable process record", "app", name, "error", err)
		return nil, removeRecord(appDir)
	}
	if !ok {
		return nil, nil
	}
	if st, err := readStat(rec.PID); err == nil && st.live() && st.startTicks == rec.StartTicks && st.pgrp == rec.PGID {
		p := &proc{pid: rec.PID, startTicks: rec.StartTicks, startedAt: rec.StartedAt, exited: make(chan struct{})}
		go p.watch(d.opts.PollInterval)
		d.mu.Lock()
		a := d.newApp(name)
		a.cur = p
		a.spec = driver.Spec{Name: name, Generation: rec.Generation, StopTimeout: rec.stopTimeout()}
		a.state = driver.State{Name: name, Generation: rec.Generation, Phase: driver.PhaseRunning,
			PID: p.pid, StartedAt: p.startedAt, Adopted: true, Detail: "adopted from an earlier App Host process"}
		d.apps[name] = a
		a.startSupervisor()
		d.publish(a)
		d.mu.Unlock()
		d.log.Info("adopted app", "app", name, "pid", p.pid, "generation", rec.Generation)
		return p, nil
	}
	// The leader is gone. Its group's ID cannot have been given to a new
	// group while members of the old one live, so live members are ours.
	if members, err := groupMembers(rec.PGID); err == nil && len(members) > 0 {
		if st, err := readStat(rec.PGID); err != nil || !st.live() {
			d.log.Warn("stopping the processes left of app", "app", name, "pgid", rec.PGID)
			p := &proc{pid: rec.PGID, startTicks: rec.StartTicks, exited: make(chan struct{})}
			close(p.exited) // the leader is gone
			if err := d.terminate(ctx, p, rec.stopTimeout()); err != nil {
				return nil, fmt.Errorf("app %q: %w", name, err)
			}
		}
	}
	return nil, removeRecord(appDir)
}

// rotateLogs keeps every app's log under the limit.
func (d *Driver) rotateLogs() {
	defer close(d.rotateDone)
	t := time.NewTicker(d.opts.LogCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stopRotate:
			return
		case <-t.C:
		}
		d.mu.Lock()
		dirs := make([]string, 0, len(d.apps))
		for _, a := range d.apps {
			dirs = append(dirs, a.dir)
		}
		d.mu.Unlock()
		for _, dir := range dirs {
			if err := rotateLog(dir, d.opts.LogMaxBytes); err != nil {
				d.log.Warn("rotating an app log", "dir", dir, "error", err)
			}
		}
	}
}
