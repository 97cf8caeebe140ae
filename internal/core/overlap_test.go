package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// simHost is a real App Host driven in-process, through the same calls as
// the host process (OpenAppHostSession, AppHostDesired, ReportAppHost) and
// with its apps' logins (NetworkLogin with the app's name and token). It
// applies each desired state as the host does: an app whose change is a
// reload (DesiredApp.Reload) and that has a reload_signal keeps its
// process and rereads its secrets; any other change starts a new process
// with a new token. Each app that runs logs in with its bound secrets; an
// app for which exitsWith says so exits instead (and keeps exiting: failed).
type simHost struct {
	t        *testing.T
	e        *env
	name     string
	session  string
	revision int64
	// exitsWith reports whether app exits when given secret.
	exitsWith func(app, secret string) bool

	mu   sync.Mutex
	apps map[string]*simApp
	pids int
}

// simApp is one app of a simHost.
type simApp struct {
	id, name          string
	gen               int64
	phase             string
	pid               int
	token             string
	started, reloaded time.Time
	secrets           []hostapi.Secret
	// history is every value the app's bound secret had, in order.
	history []string
	// pids is every process it ran.
	pids []int
}

func newSimHost(t *testing.T, e *env, name string) *simHost {
	t.Helper()
	e.appHost(t, name)
	return &simHost{t: t, e: e, name: name, session: e.openSession(t, name, "sim"), apps: map[string]*simApp{},
		exitsWith: func(string, string) bool { return false }}
}

// step waits (up to wait) for a desired state newer than the last one,
// applies it, reports, and has the apps that run log in.
func (h *simHost) step(wait time.Duration) {
	h.t.Helper()
	ctx := context.Background()
	d, err := h.e.s.AppHostDesired(ctx, h.name, h.session, h.revision, wait)
	if err != nil {
		h.t.Fatal(err)
	}
	h.e.clock.Advance(10 * time.Millisecond)
	now := h.e.clock.Now()
	h.mu.Lock()
	for _, da := range d.Apps {
		a := h.apps[da.Name]
		if a == nil {
			a = &simApp{id: da.ID, name: da.Name, phase: hostapi.PhaseStopped}
			h.apps[da.Name] = a
		}
		if !da.Run {
			a.phase, a.pid, a.gen = hostapi.PhaseStopped, 0, da.Generation
			continue
		}
		if da.Generation == a.gen && a.phase != hostapi.PhaseStopped {
			continue
		}
		reload := da.Reload && da.ReloadSignal != "" && a.phase == hostapi.PhaseRunning
		a.gen, a.secrets = da.Generation, da.Secrets
		for _, sec := range da.Secrets {
			if sec.AccountID != "" && (len(a.history) == 0 || a.history[len(a.history)-1] != sec.Value) {
				a.history = append(a.history, sec.Value)
			}
		}
		if reload {
			a.reloaded = now
		} else {
			h.pids++
			a.pid, a.token, a.started, a.reloaded = h.pids, fmt.Sprintf("token-%d", h.pids), now, time.Time{}
			a.pids = append(a.pids, a.pid)
		}
		a.phase = hostapi.PhaseRunning
		for _, sec := range a.secrets {
			if sec.AccountID != "" && h.exitsWith(a.name, sec.Value) {
				a.phase = hostapi.PhaseFailed
			}
		}
	}
	rep := hostapi.Report{SessionID: h.session, Revision: d.Revision}
	var logins []backend.LoginRequest
	for _, a := range h.apps {
		r := hostapi.AppReport{ID: a.id, Name: a.name, Generation: a.gen, Phase: a.phase}
		switch a.phase {
		case hostapi.PhaseRunning:
			r.PID, r.StartedAt, r.ReloadedAt, r.TokenHash = a.pid, a.started, a.reloaded, hostapi.TokenHash(a.token)
			for _, sec := range a.secrets {
				if sec.AccountID != "" {
					logins = append(logins, backend.LoginRequest{AccountID: sec.AccountID, Secret: sec.Value, App: a.name, AppToken: a.token})
				}
			}
		case hostapi.PhaseFailed:
			r.ExitCode, r.Detail, r.StderrTail = 1, "kept exiting", "login refused its secret"
		}
		rep.Apps = append(rep.Apps, r)
	}
	h.mu.Unlock()
	h.revision = d.Revision
	if _, err := h.e.s.ReportAppHost(ctx, h.name, rep); err != nil {
		h.t.Fatal(err)
	}
	for _, l := range logins {
		if err := h.e.s.NetworkLogin(ctx, l); err != nil {
			h.t.Errorf("app %s: login: %v", l.App, err)
		}
	}
}

// app returns a copy of the simApp named name.
func (h *simHost) app(name string) simApp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return *h.apps[name]
}

// runUntil steps the host until done says so, failing after a minute.
func (h *simHost) runUntil(done func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			h.t.Fatal("the App Host's apps did not get there within a minute")
		}
		h.step(50 * time.Millisecond)
	}
}

// overlapEnv is a key with rotation_strategy overlap, bound to the apps
// named, deployed on one simulated App Host and running.
func overlapEnv(t *testing.T, signal string, names ...string) (*env, *simHost, *backend.AccountWithSecret, []*backend.App) {
	t.Helper()
	e := newEnv(t, 0)
	ctx := context.Background()
	h := newSimHost(t, e, "east")
	key, err := e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "siem", RotationStrategy: backend.StrategyOverlap})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, key.Secret)
	var apps []*backend.App
	for _, n := range names {
		app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: n, AppHost: "east", Deployed: true,
			AppRuntime: backend.AppRuntime{Command: []string{"/bin/app"}, ReloadSignal: signal}})
		if err != nil {
			t.Fatal(err)
		}
		e.put(t, app.ID, "siem", key.ID, nil)
		apps = append(apps, app)
	}
	h.runUntil(func() bool { return e.allRunning(t, apps) })
	return e, h, key, apps
}

func (e *env) allRunning(t *testing.T, apps []*backend.App) bool {
	t.Helper()
	for _, a := range apps {
		if e.getApp(t, a.ID).Status != backend.StatusRunning {
			return false
		}
	}
	return true
}

// rotate runs the rotation while the host steps, and returns its result.
func (h *simHost) rotate(s *Service, req backend.RegenerateRequest) (*backend.AccountWithSecret, error) {
	h.t.Helper()
	type result struct {
		a   *backend.AccountWithSecret
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := s.RegenerateSecret(context.Background(), req)
		done <- result{a, err}
	}()
	var res result
	h.runUntil(func() bool {
		select {
		case res = <-done:
			return true
		default:
			return false
		}
	})
	return res.a, res.err
}

// pendingOf is the secret app was moved to (the last value it had that
// is not the key's first), "" if it never moved.
func pendingOf(a simApp, first string) string {
	for _, v := range slices.Backward(a.history) {
		if v != first {
			return v
		}
	}
	return ""
}

// A canary that exits with the new secret rolls everything back: the other
// apps never move, the key is as before (same secret_version, not locked),
// the old secret still logs in and the new one does not.
func TestOverlapCanaryFailureRollsBack(t *testing.T) {
	e, h, key, apps := overlapEnv(t, "SIGHUP", "a", "b", "c")
	h.exitsWith = func(app, secret string) bool { return app == "a" && secret != key.Secret }
	gens := map[string]int64{}
	for _, a := range apps {
		gens[a.Name] = h.app(a.Name).gen
	}
	seq := e.lastSeq(t)

	_, err := h.rotate(e.s, backend.RegenerateRequest{ID: key.ID, ExpectedSecretVersion: 1})
	if !backend.IsRefused(err) || !strings.Contains(err.Error(), `app "a"`) || !strings.Contains(err.Error(), "kept exiting") ||
		!strings.Contains(err.Error(), "rolled_back") {
		t.Fatalf("rotation with a canary that exits = %v, want refused as rolled back, naming app a and its status_detail", err)
	}
	acc := e.getAccount(t, key.ID)
	if acc.SecretVersion != 1 || acc.Locked || acc.FailedLoginAttempts != 0 || acc.PendingSecretVersion != 0 {
		t.Errorf("account after the rollback = %+v, want secret_version 1, unlocked, no pending secret", acc)
	}
	rots := e.rotations(t, key.ID)
	if len(rots) != 1 || rots[0].Outcome != backend.RotationRolledBack || rots[0].Strategy != backend.StrategyOverlap || rots[0].ToVersion != 0 {
		t.Fatalf("rotations = %+v", rots)
	}
	for _, st := range rots[0].Steps {
		if want := map[string]string{"a": backend.StepRestored, "b": backend.StepHeld, "c": backend.StepHeld}[st.AppName]; st.Phase != want {
			t.Errorf("step of %s: %s (%s), want %s", st.AppName, st.Phase, st.Detail, want)
		}
	}
	// The canary went back to the first secret and runs on it; the others
	// never got another generation.
	h.runUntil(func() bool { return e.allRunning(t, apps) })
	canary := h.app("a")
	pending := pendingOf(canary, key.Secret)
	e.secrets = append(e.secrets, pending)
	if pending == "" || canary.history[len(canary.history)-1] != key.Secret {
		t.Errorf("the canary's secrets = %d values, last first: %t; want moved and back", len(canary.history), canary.history[len(canary.history)-1] == key.Secret)
	}
	for _, n := range []string{"b", "c"} {
		if got := h.app(n); got.gen != gens[n] || len(got.history) != 1 {
			t.Errorf("app %s moved: generation %d -> %d, %d secrets", n, gens[n], got.gen, len(got.history))
		}
	}
	ctx := WithActor(context.Background(), "probe")
	if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret}); err != nil {
		t.Errorf("the old secret after the rollback: %v", err)
	}
	wantCode(t, e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: pending}), backend.CodeLoginFailed)
	if got := e.getAccount(t, key.ID); got.Locked || got.FailedLoginAttempts != 0 {
		t.Errorf("after a login with the revoked pending secret: %+v, want nothing counted", got)
	}
	for _, ev := range e.events(t) {
		if ev.Seq > seq && ev.Action == backend.ActionAccountRegenerate {
			t.Errorf("a rolled-back rotation regenerated: %+v", ev)
		}
	}
}

// A failure of the third of five apps moves the first two back; the last
// two never move.
func TestOverlapThirdOfFiveFailsMovesTheFirstTwoBack(t *testing.T) {
	e, h, key, apps := overlapEnv(t, "SIGHUP", "a", "b", "c", "d", "e")
	h.exitsWith = func(app, secret string) bool { return app == "c" && secret != key.Secret }
	_, err := h.rotate(e.s, backend.RegenerateRequest{ID: key.ID})
	if !backend.IsRefused(err) || !strings.Contains(err.Error(), `app "c"`) {
		t.Fatalf("rotation = %v, want rolled back naming app c", err)
	}
	h.runUntil(func() bool { return e.allRunning(t, apps) })
	for _, n := range []string{"a", "b", "c"} {
		a := h.app(n)
		if len(a.history) != 3 || a.history[0] != key.Secret || a.history[2] != key.Secret || a.history[1] == key.Secret {
			t.Errorf("app %s had %d secrets, want the first, the pending one, the first again", n, len(a.history))
		}
	}
	for _, n := range []string{"a", "b"} {
		if a := h.app(n); len(a.pids) != 1 {
			t.Errorf("app %s ran %d processes, want 1 (reloaded, never restarted)", n, len(a.pids))
		}
	}
	for _, n := range []string{"d", "e"} {
		if a := h.app(n); len(a.history) != 1 {
			t.Errorf("app %s moved: %d secrets", n, len(a.history))
		}
	}
	if acc := e.getAccount(t, key.ID); acc.SecretVersion != 1 || acc.PendingSecretVersion != 0 || acc.FailedLoginAttempts != 0 {
		t.Errorf("account = %+v", acc)
	}
	// a and b moved and came back without a stop; c, which exited on the
	// pending secret, was restarted on the current one.
	var moves []string
	for _, ev := range e.events(t) {
		if ev.Action == backend.ActionAppReload || (ev.Action == backend.ActionAppDeploy && strings.Contains(ev.Detail, "rolled back")) {
			moves = append(moves, ev.Action+" "+ev.TargetName)
		}
	}
	// The moves there in order; the moves back in the order the apps
	// proved they run on the current secret again.
	if len(moves) == 5 {
		slices.Sort(moves[2:])
	}
	want := []string{"app.reload a", "app.reload b", "app.deploy c", "app.reload a", "app.reload b"}
	if !slices.Equal(moves, want) {
		t.Errorf("moves =\n%s\nwant\n%s", strings.Join(moves, "\n"), strings.Join(want, "\n"))
	}
}

// Every app moves with its reload_signal, one at a time, never stopped:
// then the pending secret is current, and the old one stops working the
// moment the last app moved, not at the end of overlap_period.
func TestOverlapMovesEveryAppThenRevokesTheOldSecret(t *testing.T) {
	e, h, key, apps := overlapEnv(t, "SIGHUP", "c", "a", "b") // created out of name order: they move in name order
	// While the apps move, both secrets log in.
	ctx := WithActor(context.Background(), "probe")
	var bothChecked bool
	h.exitsWith = func(app, secret string) bool {
		if app == "b" && secret != key.Secret && !bothChecked {
			bothChecked = true
			a := h.apps["a"] // h.mu is held
			pending := a.history[len(a.history)-1]
			go func() {
				if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret}); err != nil {
					t.Errorf("the current secret while the apps move: %v", err)
				}
				if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: pending}); err != nil {
					t.Errorf("the pending secret while the apps move: %v", err)
				}
			}()
		}
		return false
	}
	start := e.clock.Now()
	got, err := h.rotate(e.s, backend.RegenerateRequest{ID: key.ID, ExpectedSecretVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, got.Secret)
	if got.SecretVersion != 2 || got.Secret == "" || got.Rotation.Outcome != backend.RotationDone || got.PendingSecretVersion != 0 {
		t.Fatalf("result = %+v", got)
	}
	if !bothChecked {
		t.Error("the move was never seen half done")
	}
	if elapsed := e.clock.Now().Sub(start); elapsed >= backend.DefaultOverlapPeriod {
		t.Errorf("the rotation took %s of the clock, not less than overlap_period", elapsed)
	}
	wantCode(t, e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret}), backend.CodeLoginFailed)
	if acc := e.getAccount(t, key.ID); acc.FailedLoginAttempts != 1 {
		t.Errorf("a login with the revoked secret: failed_login_attempts = %d, want 1 (a previous secret's stale copy counts)", acc.FailedLoginAttempts)
	}
	if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: got.Secret}); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	for _, a := range apps {
		s := h.app(a.Name)
		if len(s.pids) != 1 || len(s.history) != 2 || s.history[1] != got.Secret {
			t.Errorf("app %s: %d processes, %d secrets; want 1 process (never stopped) that got the new secret", a.Name, len(s.pids), len(s.history))
		}
	}
	h.runUntil(func() bool { return e.allRunning(t, apps) })
	if n := e.regenerateEvents(t, key.ID); n != 1 {
		t.Errorf("%d regenerate events, want 1", n)
	}
	var reloads, pendingLogins int
	var order []string
	for _, ev := range e.events(t) {
		switch {
		case ev.Action == backend.ActionAppReload:
			reloads++
			order = append(order, ev.TargetName)
			if strings.Contains(ev.Detail, "downtime_ms") || !strings.Contains(ev.Detail, "reload_signal=SIGHUP") {
				t.Errorf("app.reload of an app reloaded without a stop: %q", ev.Detail)
			}
		case ev.Action == backend.ActionAppDeploy && ev.Seq > 0 && slices.Contains([]string{"a", "b", "c"}, ev.TargetName) &&
			ev.Time.After(start):
			t.Errorf("an app moved by the rotation was deployed: %+v", ev)
		case ev.Action == backend.ActionLoginSuccess && strings.Contains(ev.Detail, "secret_version=2 (pending)"):
			pendingLogins++
		}
	}
	if !slices.Equal(order, []string{"a", "b", "c"}) {
		t.Errorf("apps reloaded in the order %q, want a, b, c", order)
	}
	if pendingLogins < 3 {
		t.Errorf("%d logins name the pending secret_version, want one per app at least", pendingLogins)
	}
	for _, st := range got.Rotation.Steps {
		if st.Phase != backend.StepMoved || st.DowntimeMS != nil {
			t.Errorf("step %+v, want moved without downtime", st)
		}
	}
}

// Without a reload_signal each app is restarted in turn: down only for its
// own restart, never two at once.
func TestOverlapRestartsAppsOneAtATime(t *testing.T) {
	e, h, key, apps := overlapEnv(t, "", "a", "b", "c")
	got, err := h.rotate(e.s, backend.RegenerateRequest{ID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, got.Secret)
	for _, a := range apps {
		if s := h.app(a.Name); len(s.pids) != 2 {
			t.Errorf("app %s ran %d processes, want 2 (restarted once)", a.Name, len(s.pids))
		}
	}
	for _, st := range got.Rotation.Steps {
		if st.Phase != backend.StepMoved || st.DowntimeMS == nil {
			t.Errorf("step %+v, want moved with its downtime", st)
		}
	}
	// One app at a time: each app's restart comes after the previous app's
	// app.deploy (it ran on the pending secret), which says its downtime.
	var acts []string
	for _, ev := range e.events(t) {
		switch {
		case ev.Action == backend.ActionAppReload:
			t.Errorf("an app restarted by the rotation has an app.reload: %+v", ev)
		case ev.Action == backend.ActionAppDeploy && strings.Contains(ev.Detail, "(pending)"):
			if !strings.Contains(ev.Detail, "downtime_ms=") {
				t.Errorf("app.deploy of a restarted app without its downtime: %q", ev.Detail)
			}
			acts = append(acts, ev.Action+" "+ev.TargetName)
		case ev.Action == backend.ActionRotationStep && strings.Contains(ev.Detail, "gets the pending secret"):
			acts = append(acts, ev.Action+" "+ev.TargetName)
		}
	}
	want := []string{"rotation.step siem", "app.deploy a", "rotation.step siem", "app.deploy b", "rotation.step siem", "app.deploy c"}
	if !slices.Equal(acts, want) {
		t.Errorf("moves =\n%s\nwant\n%s", strings.Join(acts, "\n"), strings.Join(want, "\n"))
	}
}

// A driver killed after any step of an overlap rotation leaves it to the
// next, which finishes it once: done, or rolled back, never with an app on
// a revoked secret.
func TestOverlapKilledAtEachStepConverges(t *testing.T) {
	for _, fail := range []bool{false, true} {
		// done: 1 prepared, 2 issued, 3 a moving, 4 b moving, 5 c moving, 6 promoted.
		// rolled back: ... 5 c moving, 6 c failed, 7 given back, 8 revoked.
		last := 5
		if fail {
			last = 7
		}
		t.Run(fmt.Sprintf("rolled back %t: steps", fail), func(t *testing.T) {
			e, h, key, _ := overlapEnv(t, "SIGHUP", "a", "b", "c")
			if fail {
				h.exitsWith = func(app, secret string) bool { return app == "c" && secret != key.Secret }
			}
			steps := 0
			s := NewService(e.st, e.box, Options{Now: e.clock.Now, AfterRotationStep: func(string) error { steps++; return nil }})
			_, _ = h.rotate(s, backend.RegenerateRequest{ID: key.ID})
			if steps != last+1 {
				t.Errorf("the rotation took %d steps, want %d (the kills below are after each but the last)", steps, last+1)
			}
		})
		for step := 0; step <= last; step++ {
			name := fmt.Sprintf("done/after step %d", step)
			if fail {
				name = fmt.Sprintf("rolled back/after step %d", step)
			}
			t.Run(name, func(t *testing.T) {
				e, h, key, apps := overlapEnv(t, "SIGHUP", "a", "b", "c")
				if fail {
					h.exitsWith = func(app, secret string) bool { return app == "c" && secret != key.Secret }
				}
				req := backend.RegenerateRequest{ID: key.ID, ExpectedSecretVersion: 1, IdempotencyKey: "apply-1"}
				dying := NewService(e.st, e.box, Options{Now: e.clock.Now, Owner: "dying", AfterRotationStep: killAfter(step)})
				if step == 0 {
					if _, err := dying.StartRotation(context.Background(), req); err != nil {
						t.Fatal(err)
					}
				} else if _, err := h.rotate(dying, req); !errors.Is(err, errKilled) {
					t.Fatalf("RegenerateSecret = %v, want the driver killed", err)
				}
				// The next apply takes over once the lease expired (the
				// host reports meanwhile: it stays online).
				e.clock.Advance(DefaultRotationLease + time.Second)
				h.step(0)
				next := NewService(e.st, e.box, Options{Now: e.clock.Now, Owner: "next"})
				got, err := h.rotate(next, req)
				h.runUntil(func() bool { return e.allRunning(t, apps) })
				acc := e.getAccount(t, key.ID)
				rots := e.rotations(t, key.ID)
				if len(rots) != 1 {
					t.Fatalf("%d rotations, want 1", len(rots))
				}
				if fail {
					if !backend.IsRefused(err) || rots[0].Outcome != backend.RotationRolledBack || acc.SecretVersion != 1 {
						t.Fatalf("after the takeover: %v, rotation %s, secret_version %d; want rolled back", err, rots[0].Outcome, acc.SecretVersion)
					}
				} else {
					if err != nil || rots[0].Outcome != backend.RotationDone || acc.SecretVersion != 2 {
						t.Fatalf("after the takeover: %v, rotation %s, secret_version %d; want done", err, rots[0].Outcome, acc.SecretVersion)
					}
					e.secrets = append(e.secrets, got.Secret)
				}
				if acc.PendingSecretVersion != 0 || acc.Locked || acc.FailedLoginAttempts != 0 {
					t.Errorf("account = %+v", acc)
				}
				if n := e.regenerateEvents(t, key.ID); (n == 1) == fail {
					t.Errorf("%d regenerate events", n)
				}
				// Every app holds the key's current secret and logs in with it.
				current := key.Secret
				if !fail {
					current = got.Secret
				}
				for _, a := range apps {
					if s := h.app(a.Name); s.history[len(s.history)-1] != current {
						t.Errorf("app %s holds another secret than the key's current one", a.Name)
					}
				}
			})
		}
	}
}

// An App Host that goes offline mid-way holds the rotation: both secrets
// stay valid and the rotation's step says why, until the host is back;
// then the rotation goes on and ends done.
func TestOverlapHeldWhileAppHostOffline(t *testing.T) {
	e, h, key, apps := overlapEnv(t, "SIGHUP", "a", "b")
	type result struct {
		a   *backend.AccountWithSecret
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := e.s.RegenerateSecret(context.Background(), backend.RegenerateRequest{ID: key.ID})
		done <- result{a, err}
	}()
	// Step the host until the canary runs on the pending secret, then let
	// the host fall silent.
	h.runUntil(func() bool {
		for _, r := range e.rotations(t, key.ID) {
			for _, st := range r.Steps {
				if st.AppName == "a" && st.Phase == backend.StepMoved {
					return true
				}
			}
		}
		return false
	})
	pending := h.app("a").history[1]
	e.secrets = append(e.secrets, pending)
	e.clock.Advance(DefaultAppHostOfflineAfter + time.Second)
	ctx := WithActor(context.Background(), "probe")
	held := func() bool {
		// A login is a change in the store: the driver looks again.
		if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret}); err != nil {
			t.Fatalf("the current secret while the rotation is held: %v", err)
		}
		r := e.rotations(t, key.ID)[0]
		return r.State == backend.RotationMoving && strings.HasPrefix(r.Error, `held: App Host "east" is offline`) &&
			slices.ContainsFunc(r.Steps, func(st backend.RotationStep) bool {
				return st.AppName == "b" && strings.HasPrefix(st.Detail, `held: App Host "east" is offline`)
			})
	}
	deadline := time.Now().Add(time.Minute)
	for !held() {
		if time.Now().After(deadline) {
			t.Fatalf("the rotation is not held: %+v", e.rotations(t, key.ID)[0])
		}
		select {
		case res := <-done:
			t.Fatalf("the rotation ended while its App Host was offline: %+v, %v", res.a, res.err)
		case <-time.After(20 * time.Millisecond): // polling a state with a deadline
		}
	}
	if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: pending}); err != nil {
		t.Errorf("the pending secret while the rotation is held: %v", err)
	}
	if acc := e.getAccount(t, key.ID); acc.SecretVersion != 1 || acc.PendingSecretVersion != 2 {
		t.Errorf("account while held: secret_version %d, pending %d; want 1 and 2", acc.SecretVersion, acc.PendingSecretVersion)
	}
	// The host is back: the rotation goes on.
	var res result
	h.runUntil(func() bool {
		select {
		case res = <-done:
			return true
		default:
			return false
		}
	})
	if res.err != nil || res.a.SecretVersion != 2 || res.a.Rotation.Outcome != backend.RotationDone || res.a.Rotation.Error != "" {
		t.Fatalf("after the App Host came back: %+v, %v", res.a, res.err)
	}
	e.secrets = append(e.secrets, res.a.Secret)
	h.runUntil(func() bool { return e.allRunning(t, apps) })
	for _, a := range apps {
		if s := h.app(a.Name); s.history[len(s.history)-1] != res.a.Secret || len(s.pids) != 1 {
			t.Errorf("app %s: %d processes, holds the new secret: %t", a.Name, len(s.pids), s.history[len(s.history)-1] == res.a.Secret)
		}
	}
}

// An overlap_period shorter than what an app's move may take (its
// start_timeout) rolls back before anything moves, saying what to set.
func TestOverlapPeriodTooShortRollsBack(t *testing.T) {
	e, h, key, apps := overlapEnv(t, "SIGHUP", "a")
	if _, err := e.s.UpdateAccount(context.Background(), backend.UpdateAccountRequest{ID: key.ID, Name: "siem", OverlapPeriod: "30s"}); err != nil {
		t.Fatal(err)
	}
	gen := h.app("a").gen
	_, err := h.rotate(e.s, backend.RegenerateRequest{ID: key.ID})
	if !backend.IsRefused(err) || !strings.Contains(err.Error(), "overlap_period would run out") || !strings.Contains(err.Error(), "longer overlap_period") {
		t.Fatalf("rotation = %v, want rolled back for overlap_period", err)
	}
	h.runUntil(func() bool { return e.allRunning(t, apps) })
	if got := h.app("a"); got.gen != gen || len(got.history) != 1 {
		t.Errorf("app a moved: generation %d -> %d, %d secrets", gen, got.gen, len(got.history))
	}
	if acc := e.getAccount(t, key.ID); acc.SecretVersion != 1 || acc.PendingSecretVersion != 0 {
		t.Errorf("account = %+v", acc)
	}
}

// An app skipped because its App Host had never connected is kept from
// starting until the rotation ends, even when its host connects mid-way:
// it would run on the current secret, which the rotation revokes under it
// (its logins would fail and lock the account). Then it starts, once, with
// the secret the rotation leaves.
func TestOverlapKeepsASkippedAppStopped(t *testing.T) {
	e, h, key, apps := overlapEnv(t, "SIGHUP", "a", "b")
	ctx := context.Background()
	// App Host west has its account but has never connected: its app
	// waits, pending, and the rotation skips it.
	west, err := e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "host-west", AppHost: "west"})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, west.Secret)
	late, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "0-late", AppHost: "west", Deployed: true,
		AppRuntime: backend.AppRuntime{Command: []string{"/bin/app"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, late.ID, "siem", key.ID, nil)

	type result struct {
		a   *backend.AccountWithSecret
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: key.ID})
		done <- result{a, err}
	}()
	// Once the rotation skipped it (first in name order, before the canary
	// moved: the rotation then needs the host's steps to go on), west
	// connects: it is told not to run it.
	h.runUntil(func() bool {
		r := e.rotations(t, key.ID)
		return len(r) == 1 && r[0].State == backend.RotationMoving && slices.ContainsFunc(r[0].Steps, func(st backend.RotationStep) bool {
			return st.AppName == "0-late" && st.Phase == backend.StepSkipped
		})
	})
	w := &simHost{t: t, e: e, name: "west", session: e.openSession(t, "west", "sim"), apps: map[string]*simApp{},
		exitsWith: func(string, string) bool { return false }}
	w.step(0)
	if got := w.app("0-late"); got.phase != hostapi.PhaseStopped || len(got.history) != 0 {
		t.Fatalf("the late app while the rotation runs: %s with %d secrets, want stopped", got.phase, len(got.history))
	}
	var res result
	h.runUntil(func() bool {
		w.step(0)
		select {
		case res = <-done:
			return true
		default:
			return false
		}
	})
	if res.err != nil || res.a.Rotation.Outcome != backend.RotationDone {
		t.Fatalf("rotation: %+v, %v", res.a, res.err)
	}
	e.secrets = append(e.secrets, res.a.Secret)
	// West starts it with the new secret; its logins (each step) succeed.
	w.runUntil(func() bool {
		h.step(0)
		return e.allRunning(t, append(apps, late)) && w.app("0-late").history[len(w.app("0-late").history)-1] == res.a.Secret
	})
	if got := w.app("0-late"); len(got.pids) != 1 || len(got.history) != 1 {
		t.Errorf("the late app ran %d processes with %d secrets, want 1, with the new secret", len(got.pids), len(got.history))
	}
}
