//go:build linux

package hostfaulttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// The overlap cases: a key with rotation_strategy = "overlap" bound to
// three apps on one real App Host. They move in app name order: first the
// canary (reload_signal SIGHUP), then one without reload_signal (a
// restart), then another with SIGHUP. In the fault cases the middle one is
// gated: its restart is held at the gate, so the rotation is mid-move (the
// canary moved, the last not yet) for as long as the test wants.
const (
	canaryName  = "a-canary"
	restartName = "b-restart"
	lastName    = "c-last"
)

// overlapCase is one overlap case's world, run at secret_version 1.
type overlapCase struct {
	t                     *testing.T
	w                     *world
	s                     *server
	h                     *host
	d                     *tfDir
	k                     key
	canary, restart, last *app
	gate                  string // the restarted app's gate ("": not gated)
	pids                  map[string]int
	keyID                 string
}

// newOverlapCase applies the three apps and their overlap key, and waits
// until they run. With gated, the app without reload_signal is the gated
// example app (its gate open until the test closes it).
func newOverlapCase(t *testing.T, gated bool) *overlapCase {
	t.Helper()
	w := newWorld(t, worldOptions{})
	c := &overlapCase{t: t, w: w, s: w.serve(loopback)}
	c.h = w.startHost("east", nil)
	c.canary = w.app("east", canaryName, w.exampleApp())
	c.restart = w.app("east", restartName, w.exampleApp())
	c.last = w.app("east", lastName, w.exampleApp())
	c.canary.reloadSignal, c.last.reloadSignal = "SIGHUP", "SIGHUP"
	if gated {
		c.gate = filepath.Join(w.dir, "gate")
		openGate(t, c.gate)
		c.restart.command = w.gatedApp(c.gate)
	}
	c.k = key{label: "siem", trigger: "1", strategy: backend.StrategyOverlap, apps: []*app{c.canary, c.restart, c.last}}
	c.d = w.terraform()
	c.d.write(c.s.URL, c.k)
	c.d.mustApply()
	c.pids = c.s.waitRunning(c.k.apps...)
	c.keyID = c.d.key(c.k.label).ID
	return c
}

// rotate writes the configuration with a new trigger: the next apply
// rotates the key once.
func (c *overlapCase) rotate() {
	c.t.Helper()
	c.k.trigger = "2"
	c.d.write(c.s.URL, c.k)
}

// A moment mid-move, when a fault strikes.
type moment int

const (
	// restarting: the canary moved (reloaded); the app without
	// reload_signal restarted on the pending secret, its new process held
	// at the gate; the last app not moved.
	restarting moment = iota
	// reloading: the first two moved; the last app's App Host gave it the
	// pending secret's files and its reload_signal, which waits (the app
	// is frozen) to be handled.
	reloading
)

func (m moment) String() string {
	if m == restarting {
		return "app " + restartName + " restarting on the pending secret"
	}
	return "app " + lastName + " reloading on the pending secret"
}

// startMidMove starts the apply that rotates the key and waits until the
// rotation is at moment m. The rotation cannot get past the last app until
// the test calls releaseLast: its process is frozen (SIGSTOP), so it
// neither rereads its files nor logs in. (The gate alone holds the
// restarted app for a while only: a new process that has said nothing yet
// counts as healthy once up 3 s, DESIGN's rule for apps that do not prove
// who they are.)
func (c *overlapCase) startMidMove(m moment) (*tfcli.Running, backend.Rotation) {
	t := c.t
	t.Helper()
	last := c.pids[lastName]
	if err := syscall.Kill(last, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(last, syscall.SIGCONT) })
	waitFor(t, "app "+lastName+" to stop", func() bool { return procState(last) == 'T' })
	closeGate(t, c.gate)
	c.rotate()
	run, err := c.d.Start(t.Context(), "apply", "-auto-approve", "-input=false")
	if err != nil {
		t.Fatal(err)
	}
	// The restarted app counts as moved once up 3 s (it says nothing
	// at its gate): a test that looks late (a loaded machine) finds it
	// moved and the last app on its way, still mid-move.
	r := c.s.waitRotation(c.keyID, "with its canary moved and the next app on its way", func(r backend.Rotation) bool {
		return r.State == backend.RotationMoving && phase(r, canaryName) == backend.StepMoved &&
			(phase(r, restartName) == backend.StepMoving || phase(r, restartName) == backend.StepMoved) &&
			phase(r, lastName) != backend.StepMoved
	})
	waitFor(t, "app "+restartName+"'s new process, at its gate", func() bool {
		procs := appProcs(t, c.restart.dir)
		return len(procs) > 0 && !slices.Contains(procs, c.pids[restartName])
	})
	if m == restarting {
		t.Logf("mid-move: app %s %s, app %s %s", restartName, phase(r, restartName), lastName, phase(r, lastName))
		return run, r
	}
	openGate(t, c.gate)
	r = c.s.waitRotation(c.keyID, "with its last app on its way", func(r backend.Rotation) bool {
		return r.State == backend.RotationMoving && phase(r, restartName) == backend.StepMoved && phase(r, lastName) == backend.StepMoving
	})
	waitFor(t, "the reload_signal of app "+lastName+" to wait in its frozen process", func() bool {
		return signalPending(t, last, syscall.SIGHUP)
	})
	return run, r
}

// signalPending reports whether sig waits to be handled by process pid.
func signalPending(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "SigPnd" && k != "ShdPnd") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("/proc/%d/status %s: %v", pid, k, err)
		}
		if mask&(1<<(sig-1)) != 0 {
			return true
		}
	}
	return false
}

// releaseLast lets the last app go on (SIGCONT), and opens the gate.
func (c *overlapCase) releaseLast() {
	c.t.Helper()
	if err := syscall.Kill(c.pids[lastName], syscall.SIGCONT); err != nil {
		c.t.Fatal(err)
	}
	openGate(c.t, c.gate)
}

// requireLastNotMoved checks that the rotation is still mid-move: not
// ended, its last app not moved.
func (c *overlapCase) requireLastNotMoved(when string) {
	c.t.Helper()
	r := c.s.rotations(c.keyID)[0]
	if r.Ended() || phase(r, lastName) == backend.StepMoved {
		c.t.Fatalf("%s: rotation %s %s, app %s %s; want it mid-move", when, r.ID, r.State, lastName, phase(r, lastName))
	}
}

// phase is the phase of app's step in r.
func phase(r backend.Rotation, app string) string {
	if st, ok := step(r, app); ok {
		return st.Phase
	}
	return ""
}

func step(r backend.Rotation, app string) (backend.RotationStep, bool) {
	i := slices.IndexFunc(r.Steps, func(st backend.RotationStep) bool { return st.AppName == app })
	if i < 0 {
		return backend.RotationStep{}, false
	}
	return r.Steps[i], true
}

// secretOf is the secret in app a's secret file on its App Host.
func secretOf(t *testing.T, a *app) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.dir, "secrets", secretName))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(b), "\n")
}

// login logs in as account keyID with secret, as nobody's app.
func (s *server) login(keyID, secret string) error {
	return s.c.Login(context.Background(), backend.LoginRequest{AccountID: keyID, Secret: secret})
}

// requireDone checks the rotation of the case: done, overlap, from
// secret_version 1 to 2, every app moved, each only after the one before
// it ran on the pending secret, in name order.
func (c *overlapCase) requireDone(what string) backend.Rotation {
	t := c.t
	t.Helper()
	rs := c.s.rotations(c.keyID)
	if len(rs) != 1 {
		t.Fatalf("%d rotations of the key, want 1", len(rs))
	}
	r := rs[0]
	logDowntime(t, what, r)
	if r.Strategy != backend.StrategyOverlap || r.Outcome != backend.RotationDone || r.FromVersion != 1 || r.ToVersion != 2 {
		t.Fatalf("rotation %s: %s, outcome %s from secret_version %d to %d, want overlap, done from 1 to 2 (%s)",
			r.ID, r.Strategy, r.Outcome, r.FromVersion, r.ToVersion, r.Error)
	}
	var prev *backend.RotationStep
	for i, name := range []string{canaryName, restartName, lastName} {
		st, ok := step(r, name)
		switch {
		case !ok || st.Phase != backend.StepMoved || st.StartedAt == nil || st.RunningAt == nil:
			t.Errorf("rotation step of app %s: %+v, want moved", name, st)
			continue
		case i != 0 && prev.RunningAt != nil && st.StartedAt.Before(*prev.RunningAt):
			t.Errorf("app %s moved at %s, before app %s ran on the pending secret (%s): not one at a time in name order",
				name, st.StartedAt, prev.AppName, prev.RunningAt)
		}
		prev = &st
	}
	return r
}

// requireSecretFilesCurrent checks that no app is left on a revoked
// secret: each app's secret file holds one secret, and it logs in.
func (c *overlapCase) requireSecretFilesCurrent() {
	t := c.t
	t.Helper()
	want := secretOf(t, c.canary)
	for _, a := range c.k.apps {
		if secretOf(t, a) != want {
			t.Errorf("app %s holds another secret than app %s", a.Name, c.canary.Name)
		}
	}
	if err := c.s.login(c.keyID, want); err != nil {
		t.Errorf("the apps' secret does not log in: %v", err)
	}
}

// Overlap case 1: an overlap rotation, no fault. The reload apps keep
// their processes, never down; the other restarts; the previous secret
// logs in no more right after the apply (revoked at once, long before the
// end of overlap_period), and its login counts toward the lockout.
func TestOverlapRotationReloadsAndRevokesAtOnce(t *testing.T) {
	t.Parallel()
	c := newOverlapCase(t, false)
	old := secretOf(t, c.canary)
	mark := c.s.events()
	from := mark[len(mark)-1].Seq

	c.rotate()
	c.d.mustApply()
	if err := c.s.login(c.keyID, old); backend.CodeOf(err) != backend.CodeLoginFailed {
		t.Errorf("a login with the previous secret right after the rotation: %v, want it refused (%s)", err, backend.CodeLoginFailed)
	}
	r := c.requireDone("overlap, no fault")
	if r.OverlapUntil == nil || !time.Now().Before(*r.OverlapUntil) {
		t.Errorf("rotation %s: overlap_until %v, want a time still to come (the check must run within overlap_period)", r.ID, r.OverlapUntil)
	}
	ev := c.s.events()
	var stale []backend.AuditEvent
	for _, e := range ev {
		if e.Seq > from && e.Action == backend.ActionLoginFailure {
			stale = append(stale, e)
		}
	}
	if len(stale) != 1 || stale[0].TargetID != c.keyID ||
		!strings.Contains(stale[0].Detail, "failed_login_attempts=1") || !strings.Contains(stale[0].Detail, "previous secret_version=1") {
		t.Fatalf("the login failures since the rotation: %+v, want the one of the previous secret, counted (failed_login_attempts=1, previous secret_version=1)", stale)
	}
	t.Logf("the previous secret's login, right after the apply: %s", stale[0].Detail)

	// The reload apps kept their processes and were never down: an
	// app.reload each, no deploy or status change, no downtime in their
	// step. The other was restarted, once.
	c.s.requireRunningAs(c.pids, true, c.canary, c.last)
	c.s.requireRunningAs(c.pids, false, c.restart)
	for _, a := range []*app{c.canary, c.last} {
		if st, _ := step(r, a.Name); st.DowntimeMS != nil {
			t.Errorf("app %s (reload_signal) has downtime %.1f ms in the rotation", a.Name, *st.DowntimeMS)
		}
		reloads := 0
		for _, e := range ev {
			if e.Seq <= from || e.TargetName != a.Name {
				continue
			}
			switch e.Action {
			case backend.ActionAppReload:
				reloads++
			case backend.ActionAppDeploy, backend.ActionAppStatus:
				t.Errorf("app %s (reload_signal) during the rotation: %s %s", a.Name, e.Action, e.Detail)
			}
		}
		if reloads != 1 {
			t.Errorf("app %s: %d app.reload events, want 1", a.Name, reloads)
		}
	}
	if n := countApp(ev, from, backend.ActionAppDeploy, restartName); n != 1 {
		t.Errorf("app %s: %d app.deploy events in the rotation, want 1 (its restart)", restartName, n)
	}

	// The apps' next logins set the count back to 0.
	waitFor(t, "the apps' logins to reset failed_login_attempts", func() bool { return c.s.account(c.keyID).FailedLoginAttempts == 0 })
	c.d.requireEnd(c.s, c.k, 2, 1, stale[0].Actor)
	c.requireSecretFilesCurrent()
}

// countApp counts the events of action on app name after seq from.
func countApp(ev []backend.AuditEvent, from int64, action, name string) int {
	n := 0
	for _, e := range ev {
		if e.Seq > from && e.Action == action && e.TargetName == name {
			n++
		}
	}
	return n
}

// Overlap case 2: the App Host killed (SIGKILL) mid-move and restarted at
// once, at two moments: while the app without reload_signal restarts, and
// while the last app's reload waits to be handled. DESIGN implies done: a
// host that restarts in its directory takes its name over at once and
// adopts its apps (never two processes of one app), so nothing failed and
// the rotation goes on where it was; it is never rolled back for a restart
// of the host, nor repeated.
func TestOverlapAppHostKilledMidMove(t *testing.T) {
	t.Parallel()
	for _, m := range []moment{restarting, reloading} {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			c := newOverlapCase(t, true)
			run, r := c.startMidMove(m)
			c.h.signal(t, syscall.SIGKILL)
			killed := time.Now()
			t.Logf("fault injected: SIGKILL of App Host east (PID %d) at rotation %s state %s, %s; restarted at once",
				c.h.cmd.Process.Pid, r.ID, r.State, m)
			c.requireLastNotMoved("at the kill")
			// The kernel resumes the last app by itself: the host's death
			// orphans its process group, which holds a stopped process, so
			// it gets SIGHUP and SIGCONT (POSIX). It handles the reload
			// then, whether the host or the kernel sent it.
			c.h = c.h.restart(c.w)
			c.s.waitHostReport("east", killed)
			c.releaseLast()

			res, err := run.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if res.Code != 0 {
				t.Fatalf("the apply failed although the App Host came back at once:\n%s", res)
			}
			c.requireDone("App Host killed mid-move, " + m.String())
			c.s.requireRunningAs(c.pids, true, c.canary, c.last)
			c.s.requireRunningAs(c.pids, false, c.restart)
			c.d.requireEnd(c.s, c.k, 2, 1)
			c.requireSecretFilesCurrent()
		})
	}
}

// Overlap case 3: the App Host frozen (SIGSTOP) mid-move until it is
// offline. The rotation holds: not ended, both secrets log in, its error
// and the step of the app on its way say why. Let go on (SIGCONT), the host reports
// again and the rotation finishes: done, once.
func TestOverlapAppHostFrozenMidMove(t *testing.T) {
	t.Parallel()
	c := newOverlapCase(t, true)
	run, r := c.startMidMove(restarting)
	c.h.signal(t, syscall.SIGSTOP)
	waitFor(t, "App Host east to stop", func() bool { return procState(c.h.cmd.Process.Pid) == 'T' })
	t.Logf("fault injected: SIGSTOP of App Host east (PID %d) at rotation %s state %s, %s",
		c.h.cmd.Process.Pid, r.ID, r.State, restarting)
	var seen backend.Rotation
	defer func() {
		if t.Failed() {
			t.Logf("the rotation as last seen: %+v", seen)
		}
	}()
	var held backend.RotationStep
	r = c.s.waitRotation(c.keyID, "held for its offline App Host", func(r backend.Rotation) bool {
		seen = r
		i := slices.IndexFunc(r.Steps, func(st backend.RotationStep) bool {
			return strings.HasPrefix(st.Detail, `held: App Host "east" is offline`)
		})
		if i >= 0 {
			held = r.Steps[i]
		}
		return i >= 0
	})
	t.Logf("rotation %s held: state %s, app %s %s: %s", r.ID, r.State, held.AppName, held.Phase, held.Detail)
	if !strings.HasPrefix(r.Error, `held: App Host "east" is offline`) {
		t.Errorf("rotation %s held: its error %q does not say so", r.ID, r.Error)
	}
	if r.Ended() || r.State != backend.RotationMoving || phase(r, lastName) == backend.StepMoved {
		t.Errorf("rotation %s with its App Host offline: state %s, outcome %q, app %s %s; want moving, %s not moved",
			r.ID, r.State, r.Outcome, lastName, phase(r, lastName), lastName)
	}
	// Both secrets log in: the current one (the last app's, not moved) and
	// the pending one (the canary's).
	if err := c.s.login(c.keyID, secretOf(t, c.last)); err != nil {
		t.Errorf("the current secret, while the rotation holds: %v", err)
	}
	if err := c.s.login(c.keyID, secretOf(t, c.canary)); err != nil {
		t.Errorf("the pending secret, while the rotation holds: %v", err)
	}
	if acct := c.s.account(c.keyID); acct.SecretVersion != 1 || acct.PendingSecretVersion != 2 {
		t.Errorf("while the rotation holds: secret_version %d, pending %d; want 1 and 2", acct.SecretVersion, acct.PendingSecretVersion)
	}
	if run.Exited() {
		t.Errorf("the apply ended while the rotation holds")
	}

	c.h.signal(t, syscall.SIGCONT)
	resumed := time.Now()
	c.s.waitHostReport("east", resumed)
	c.releaseLast()
	res, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 0 {
		t.Fatalf("the apply failed although the App Host came back:\n%s", res)
	}
	t.Logf("the App Host reported again; the apply ended %s after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	if r := c.requireDone("App Host frozen mid-move"); r.Error != "" {
		t.Errorf("rotation %s done still has an error: %s", r.ID, r.Error)
	}
	c.s.requireRunningAs(c.pids, true, c.canary, c.last)
	c.s.requireRunningAs(c.pids, false, c.restart)
	c.d.requireEnd(c.s, c.k, 2, 1)
	c.requireSecretFilesCurrent()
}

// Overlap case 4: the provider plugin killed (SIGKILL) mid-move. The
// rotation goes on in the server and ends done; the next apply adopts it:
// one rotation, an empty plan.
func TestOverlapProviderKilledMidMove(t *testing.T) {
	t.Parallel()
	c := newOverlapCase(t, true)
	run, r := c.startMidMove(restarting)
	plugins := childrenRunning(run.Cmd.Process.Pid, c.w.bin)
	if len(plugins) == 0 {
		t.Fatalf("no provider plugin under terraform (PID %d) to kill", run.Cmd.Process.Pid)
	}
	for _, pid := range plugins {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("fault injected: SIGKILL of the provider plugin %v at rotation %s state %s, %s",
		plugins, r.ID, r.State, restarting)
	res, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Code == 0 {
		t.Fatalf("the apply succeeded although its provider was killed:\n%s", res)
	}
	t.Logf("terraform reported: %s", strings.Join(res.ErrorLines(), " | "))

	c.requireLastNotMoved("after the kill")
	c.releaseLast()
	c.s.waitRotation(c.keyID, "that ended", func(x backend.Rotation) bool { return x.ID == r.ID && x.Ended() })
	c.requireDone("provider killed mid-move")
	c.s.requireRunningAs(c.pids, true, c.canary, c.last)
	c.s.requireRunningAs(c.pids, false, c.restart)
	c.d.mustApply()
	c.d.requireEnd(c.s, c.k, 2, 1)
	c.requireSecretFilesCurrent()
}
