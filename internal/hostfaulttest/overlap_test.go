//go:build linux

package hostfaulttest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
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
