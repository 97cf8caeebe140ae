package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

// The variables of an app's environment: exactly these, and nothing of the
// App Host's own.
const (
	envPath     = "PATH"
	envHome     = "HOME"
	envEndpoint = "APPHOST_ENDPOINT"
	envAppName  = "APPHOST_APP_NAME"
	envAppDir   = "APPHOST_APP_DIR"
	envAppToken = "APPHOST_APP_TOKEN"
	envCAFile   = "APPHOST_CA_FILE"
)

// killWait bounds the wait for a process group to go after SIGKILL.
const killWait = 10 * time.Second

// app is one app of the driver.
type app struct {
	d    *Driver
	name string
	dir  string

	// op makes Start, Reload and Stop of the app one at a time.
	op sync.Mutex
	// launchMu makes a launch (files and process) and a reload's file
	// writes one at a time; the supervisor takes it to restart. It is never
	// held while waiting for the supervisor.
	launchMu sync.Mutex

	// Guarded by d.mu.
	spec    driver.Spec
	hasSpec bool // false for an adopted app until Start gives its spec
	state   driver.State
	cur     *proc       // the live process, nil when none
	sup     *supervisor // watches cur and restarts it; nil when none
	exits   int         // exits in a row, each before StableAfter
	backoff time.Duration
}

// proc is one process of an app (the leader of its process group).
type proc struct {
	pid        int
	startTicks uint64
	startedAt  time.Time
	child      *os.Process // nil when adopted
	exited     chan struct{}
	// Set before exited is closed.
	code   int
	detail string
}

// wait reaps a child and records how it ended.
func (p *proc) wait() {
	ps, err := p.child.Wait()
	switch {
	case err != nil:
		p.code, p.detail = -1, "exit status unknown: "+err.Error()
	default:
		p.code, p.detail = describeExit(ps)
	}
	close(p.exited)
}

// watch polls a process that is not our child until it is gone; how it
// ended cannot be known.
func (p *proc) watch(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for sameProcess(p.pid, p.startTicks) {
		<-t.C
	}
	p.code, p.detail = -1, "exited (exit status unknown: the process was adopted from an earlier App Host process)"
	close(p.exited)
}

func (p *proc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func describeExit(ps *os.ProcessState) (int, string) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	}
	return ps.ExitCode(), fmt.Sprintf("exited with status %d", ps.ExitCode())
}

// supervisor watches an app's process and restarts it when it exits.
type supervisor struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startSupervisor starts a's supervisor. Callers hold d.mu.
func (a *app) startSupervisor() {
	ctx, cancel := context.WithCancel(context.Background())
	s := &supervisor{cancel: cancel, done: make(chan struct{})}
	a.sup = s
	go func() {
		a.supervise(ctx)
		a.d.mu.Lock()
		if a.sup == s {
			a.sup = nil // ended on its own: the app failed or exited for good
		}
		a.d.mu.Unlock()
		close(s.done)
	}()
}

// stopSupervisor stops a's supervisor and waits until it is gone: then
// a.cur is stable. Callers hold a.op, not d.mu.
func (a *app) stopSupervisor() {
	a.d.mu.Lock()
	s := a.sup
	a.sup = nil
	a.d.mu.Unlock()
	if s != nil {
		s.cancel()
		<-s.done
	}
}

func (a *app) supervise(ctx context.Context) {
	d := a.d
	for {
		d.mu.Lock()
		p := a.cur
		d.mu.Unlock()
		if p == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-p.exited:
		}
		// The leader exited on its own: what is left of its group goes too,
		// so that a restart never runs beside an old copy.
		if err := d.killGroup(ctx, p); err != nil {
			d.log.Warn("killing what is left of an exited app", "app", a.name, "error", err)
		}
		if ctx.Err() != nil {
			return
		}
		tail := logTail(a.dir)
		d.mu.Lock()
		a.cur = nil
		if time.Since(p.startedAt) >= d.opts.StableAfter {
			a.exits, a.backoff = 0, d.opts.MinBackoff
		}
		a.exits++
		a.state.PID, a.state.StartedAt = 0, time.Time{}
		a.state.ExitCode, a.state.LogTail = p.code, tail
		wait := a.backoff
		switch {
		case !a.hasSpec:
			a.state.Phase = driver.PhaseExited
			a.state.Detail = p.detail + "; it is started again at the App Host's next Start"
		case a.exits >= d.opts.FailAfter:
			a.state.Phase = driver.PhaseFailed
			a.state.Detail = fmt.Sprintf("%s; it exited %d times in a row, each within %s of starting, and is not restarted",
				p.detail, a.exits, d.opts.StableAfter)
		default:
			a.state.Phase = driver.PhaseExited
			a.state.Detail = fmt.Sprintf("%s; restarting in %s", p.detail, wait)
		}
		phase, restart := a.state.Phase, a.state.Phase == driver.PhaseExited && a.hasSpec
		if !restart {
			// Done with this process for good: no record, and no secret left
			// on disk for an app that does not run. Before the state is
			// published, so that whoever sees it finds the files gone.
			_ = removeRecord(a.dir)
			if phase == driver.PhaseFailed {
				_ = removeSecrets(a.dir)
			}
		}
		d.publish(a)
		d.mu.Unlock()
		d.log.Info("app exited", "app", a.name, "pid", p.pid, "detail", p.detail, "phase", phase)
		if !restart {
			return
		}

		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		a.launchMu.Lock()
		if ctx.Err() != nil {
			a.launchMu.Unlock()
			return
		}
		d.mu.Lock()
		spec := a.spec
		a.backoff = min(2*a.backoff, d.opts.MaxBackoff)
		d.mu.Unlock()
		np, err := a.launch(spec)
		d.mu.Lock()
		if err != nil {
			a.state.Phase, a.state.Detail = driver.PhaseFailed, "restarting: "+err.Error()
			d.publish(a)
			d.mu.Unlock()
			_ = errors.Join(removeRecord(a.dir), removeSecrets(a.dir))
			a.launchMu.Unlock()
			return
		}
		a.cur = np
		a.state.Restarts++
		a.state.Phase, a.state.PID, a.state.StartedAt = driver.PhaseRunning, np.pid, np.startedAt
		a.state.Detail = fmt.Sprintf("restarted after: %s", p.detail)
		d.publish(a)
		d.mu.Unlock()
		a.launchMu.Unlock()
	}
}

// start is Start for a (a.op held).
func (a *app) start(ctx context.Context, spec driver.Spec) error {
	d := a.d
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return driver.ErrClosed
	case a.cur != nil && a.state.Generation == spec.Generation:
		// It runs with this generation (perhaps adopted): keep it, and give
		// it the spec it restarts with.
		a.spec, a.hasSpec = spec, true
		if a.sup == nil {
			a.startSupervisor()
		}
		d.mu.Unlock()
		a.launchMu.Lock()
		defer a.launchMu.Unlock()
		if err := writeAppFiles(a.dir, spec); err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		return a.recordCurrent()
	case a.sup != nil && a.state.Phase == driver.PhaseExited && a.state.Generation == spec.Generation:
		// It waits to be restarted with this generation.
		a.spec, a.hasSpec = spec, true
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	if err := a.stopProcess(ctx); err != nil {
		return err
	}
	return a.launchFresh(spec)
}

// launchFresh starts a with spec after a stop: counters reset.
func (a *app) launchFresh(spec driver.Spec) error {
	d := a.d
	a.launchMu.Lock()
	defer a.launchMu.Unlock()
	d.mu.Lock()
	a.spec, a.hasSpec = spec, true
	a.exits, a.backoff = 0, d.opts.MinBackoff
	a.state = driver.State{Name: a.name, Generation: spec.Generation, Phase: driver.PhaseStarting}
	d.publish(a)
	d.mu.Unlock()

	p, err := a.launch(spec)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		a.state.Phase, a.state.Detail = driver.PhaseFailed, err.Error()
		d.publish(a)
		_ = removeSecrets(a.dir)
		return err
	}
	a.cur = p
	a.state.Phase, a.state.PID, a.state.StartedAt = driver.PhaseRunning, p.pid, p.startedAt
	a.startSupervisor()
	d.publish(a)
	return nil
}

// reload is Reload for a (a.op held).
func (a *app) reload(ctx context.Context, spec driver.Spec) error {
	d := a.d
	d.mu.Lock()
	running, closed := a.cur != nil || a.sup != nil, d.closed
	d.mu.Unlock()
	if closed {
		return driver.ErrClosed
	}
	if !running {
		return a.start(ctx, spec)
	}
	if spec.ReloadSignal == "" {
		if err := a.stopProcess(ctx); err != nil {
			return err
		}
		return a.launchFresh(spec)
	}
	sig, err := signalOf(spec.ReloadSignal)
	if err != nil {
		return err
	}
	a.launchMu.Lock()
	defer a.launchMu.Unlock()
	if err := writeAppFiles(a.dir, spec); err != nil {
		return fmt.Errorf("%s: %w", spec, err)
	}
	d.mu.Lock()
	a.spec, a.hasSpec = spec, true
	a.state.Generation = spec.Generation
	p := a.cur
	d.mu.Unlock()
	if err := a.recordCurrent(); err != nil {
		return err
	}
	if p != nil && !p.done() {
		// The leader only: its children are its business (a worker that
		// does not handle the signal would die of it).
		if p.child != nil {
			err = p.child.Signal(sig)
		} else if sameProcess(p.pid, p.startTicks) {
			err = syscall.Kill(p.pid, sig)
		}
		if err != nil && !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("%s: sending %s: %w", spec, spec.ReloadSignal, err)
		}
	}
	d.mu.Lock()
	a.state.Detail = "reloaded with " + spec.ReloadSignal
	d.publish(a)
	d.mu.Unlock()
	return nil
}

// stop is Stop for a (a.op held).
func (a *app) stop(ctx context.Context) error {
	err := a.stopProcess(ctx)
	d := a.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		a.state.Detail = "stopping: " + err.Error()
		d.publish(a)
		return err
	}
	if a.state.Phase != driver.PhaseStopped {
		a.state.Phase, a.state.PID, a.state.StartedAt = driver.PhaseStopped, 0, time.Time{}
		a.state.Detail = "stopped"
		d.publish(a)
	}
	return nil
}

// stopProcess stops the supervisor and the process, if any, and removes the
// app's record and secret files.
func (a *app) stopProcess(ctx context.Context) error {
	a.stopSupervisor()
	d := a.d
	d.mu.Lock()
	p := a.cur
	timeout := a.spec.StopTimeoutOrDefault()
	d.mu.Unlock()
	if p != nil {
		if err := d.terminate(ctx, p, timeout); err != nil {
			return fmt.Errorf("app %q: %w", a.name, err)
		}
		d.mu.Lock()
		a.cur = nil
		if p.child != nil {
			a.state.ExitCode = p.code
		}
		d.mu.Unlock()
	}
	return errors.Join(removeRecord(a.dir), removeSecrets(a.dir))
}

// terminate stops p's process group: SIGTERM (and SIGCONT, so that a frozen
// process gets it), SIGKILL after timeout, and returns once no process of
// the group is left.
func (d *Driver) terminate(ctx context.Context, p *proc, timeout time.Duration) error {
	if !groupOurs(p) {
		return nil // gone long ago: its PID is another process's now
	}
	if !p.done() || d.groupAlive(p) {
		if err := signalGroup(p.pid, syscall.SIGTERM); err != nil {
			return err
		}
		_ = signalGroup(p.pid, syscall.SIGCONT)
		tctx, cancel := context.WithTimeout(ctx, timeout)
		gone := d.waitGone(tctx, p)
		cancel()
		if gone {
			return nil
		}
		d.log.Warn("app did not stop in time: SIGKILL", "pid", p.pid, "stop_timeout", timeout)
	}
	return d.killGroup(ctx, p)
}

// killGroup SIGKILLs what is left of p's group and waits until it is gone.
func (d *Driver) killGroup(ctx context.Context, p *proc) error {
	if !groupOurs(p) || (!d.groupAlive(p) && p.done()) {
		return nil
	}
	if err := signalGroup(p.pid, syscall.SIGKILL); err != nil {
		return err
	}
	kctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	if !d.waitGone(kctx, p) {
		members, _ := groupMembers(p.pid)
		return fmt.Errorf("process group %d still has processes %v after SIGKILL", p.pid, members)
	}
	return nil
}

// groupAlive reports whether p's process group has a live process.
func (d *Driver) groupAlive(p *proc) bool {
	if !groupOurs(p) {
		return false
	}
	m, err := groupMembers(p.pid)
	return err != nil || len(m) > 0
}

// groupOurs reports whether process group p.pid is still p's: the group's
// ID is the leader's PID, which the kernel gives no new process while the
// leader (even a zombie) or any member of its group lives. So the group is
// another's only when a live process with that PID started at another time.
func groupOurs(p *proc) bool {
	st, err := readStat(p.pid)
	if err != nil || !st.live() {
		return true
	}
	return st.startTicks == p.startTicks
}

// waitGone waits until p exited and its group has no live process, or ctx
// ends; it reports whether it is gone.
func (d *Driver) waitGone(ctx context.Context, p *proc) bool {
	wait := time.Millisecond
	for {
		// An adopted leader is checked here, not at the watcher's next poll.
		leaderGone := p.done() || (p.child == nil && !sameProcess(p.pid, p.startTicks))
		if leaderGone && !d.groupAlive(p) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-p.exited:
			wait = time.Millisecond
			continue
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// launch writes spec's files and starts its command in a new process group.
// launchMu is held.
func (a *app) launch(spec driver.Spec) (*proc, error) {
	d := a.d
	if err := writeAppFiles(a.dir, spec); err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	path, err := lookPath(spec.Command[0], a.dir, d.opts.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	logf, err := openLog(a.dir)
	if err != nil {
		return nil, fmt.Errorf("%s: opening its log: %w", spec, err)
	}
	defer func() { _ = logf.Close() }()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer func() { _ = null.Close() }()

	child, err := os.StartProcess(path, spec.Command, &os.ProcAttr{
		Dir:   a.dir,
		Env:   a.env(spec),
		Files: []*os.File{null, logf, logf},
		// Its own process group: a stop reaches its children too, and a
		// Ctrl-C meant for the App Host does not reach it. No Pdeathsig:
		// the app outlives a killed App Host, which adopts it again.
		Sys: &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: starting %s: %w", spec, spec.Command[0], err)
	}
	p := &proc{pid: child.Pid, startedAt: time.Now(), child: child, exited: make(chan struct{})}
	// The child is not reaped before wait, so its stat is there.
	st, err := readStat(p.pid)
	if err == nil {
		p.startTicks = st.startTicks
		err = writeRecord(a.dir, record{PID: p.pid, PGID: p.pid, StartTicks: p.startTicks, StartedAt: p.startedAt,
			Generation: spec.Generation, StopTimeoutMS: spec.StopTimeoutOrDefault().Milliseconds()})
	}
	go p.wait()
	if err != nil {
		// Never leave a process that the next App Host could not find.
		_ = d.killGroup(context.Background(), p)
		return nil, fmt.Errorf("%s: recording its process: %w", spec, err)
	}
	d.log.Info("app started", "app", a.name, "pid", p.pid, "generation", spec.Generation)
	return p, nil
}

// recordCurrent rewrites the record of a's live process with a's spec
// (generation and stop timeout). launchMu is held.
func (a *app) recordCurrent() error {
	a.d.mu.Lock()
	p, spec := a.cur, a.spec
	a.d.mu.Unlock()
	if p == nil || p.done() {
		return nil
	}
	return writeRecord(a.dir, record{PID: p.pid, PGID: p.pid, StartTicks: p.startTicks, StartedAt: p.startedAt,
		Generation: spec.Generation, StopTimeoutMS: spec.StopTimeoutOrDefault().Milliseconds()})
}

// env is the app's whole environment.
func (a *app) env(spec driver.Spec) []string {
	env := []string{
		envPath + "=" + a.d.opts.Path,
		envHome + "=" + a.dir,
		envEndpoint + "=" + a.d.opts.Endpoint,
		envAppName + "=" + a.name,
		envAppDir + "=" + a.dir,
		envAppToken + "=" + spec.AppToken,
	}
	if a.d.opts.CAFile != "" {
		env = append(env, envCAFile+"="+a.d.opts.CAFile)
	}
	return env
}

// lookPath finds the program to run: a name with a '/' is a path (relative
// to the app's directory), any other is looked up in path's absolute
// directories.
func lookPath(name, dir, path string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for _, p := range filepath.SplitList(path) {
		if !filepath.IsAbs(p) {
			continue
		}
		if c := filepath.Join(p, name); executable(c) == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("command %q is not found in PATH %s: give its absolute path", name, path)
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("command %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("command %s is not an executable file", path)
	}
	return nil
}

// signalOf maps a reload signal's name to the signal.
func signalOf(name string) (syscall.Signal, error) {
	switch name {
	case "SIGHUP":
		return syscall.SIGHUP, nil
	case "SIGINT":
		return syscall.SIGINT, nil
	case "SIGQUIT":
		return syscall.SIGQUIT, nil
	case "SIGUSR1":
		return syscall.SIGUSR1, nil
	case "SIGUSR2":
		return syscall.SIGUSR2, nil
	case "SIGWINCH":
		return syscall.SIGWINCH, nil
	}
	return 0, fmt.Errorf("reload signal %q is not one of %s", name, strings.Join(driver.ReloadSignals, ", "))
}
