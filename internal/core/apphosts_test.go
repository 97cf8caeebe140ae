package core

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// An app on a real App Host is running on its proven login, and stays so
// across the host's reports of the same process: neither the report that
// gives the start time of a process announced before it started (the login
// may come first), nor a start time more precise than the store keeps,
// makes the server forget that login and fall back to the 3 s uptime rule.
func TestProvenLoginSurvivesReportsOfTheSameProcess(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	e.appHost(t, "east")
	key := e.account(t, "siem")
	app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "forwarder", AppHost: "east",
		AppRuntime: backend.AppRuntime{Command: []string{"/bin/true"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, app.ID, "siem", key.ID, nil)
	session := e.openSession(t, "east", "exec")
	if _, err := e.s.DeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	d, err := e.s.AppHostDesired(ctx, "east", session, 0, 0)
	if err != nil || len(d.Apps) != 1 || !d.Apps[0].Run {
		t.Fatalf("desired %+v, %v", d, err)
	}
	gen := d.Apps[0].Generation
	report := func(rep hostapi.AppReport) string {
		t.Helper()
		rep.ID, rep.Name, rep.Generation, rep.TokenHash = app.ID, app.Name, gen, hostapi.TokenHash("token-1")
		if _, err := e.s.ReportAppHost(ctx, "east", hostapi.Report{SessionID: session, Revision: d.Revision,
			Apps: []hostapi.AppReport{rep}}); err != nil {
			t.Fatal(err)
		}
		return e.getApp(t, app.ID).Status
	}

	// Announced with its token before it starts; it logs in, then the
	// host says when it started (to the nanosecond).
	report(hostapi.AppReport{Phase: hostapi.PhaseStarting})
	started := e.clock.Now().Add(time.Nanosecond)
	e.clock.Advance(100 * time.Millisecond)
	if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret, App: app.Name, AppToken: "token-1"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(100 * time.Millisecond)
	running := hostapi.AppReport{Phase: hostapi.PhaseRunning, PID: 42, StartedAt: started}
	if got := report(running); got != backend.StatusRunning {
		t.Fatalf("after the login and the report of its start: %s (%s), want running", got, e.getApp(t, app.ID).StatusDetail)
	}
	// The next reports of the same process, well within 3 s of its start.
	for range 3 {
		e.clock.Advance(100 * time.Millisecond)
		if got := report(running); got != backend.StatusRunning {
			t.Fatalf("a later report of the same process: %s (%s), want running", got, e.getApp(t, app.ID).StatusDetail)
		}
	}
	// A new process starts its health over: no login of it yet.
	e.clock.Advance(100 * time.Millisecond)
	if got := report(hostapi.AppReport{Phase: hostapi.PhaseRunning, PID: 43, StartedAt: e.clock.Now()}); got != backend.StatusStarting {
		t.Fatalf("a new process without a login: %s, want starting", got)
	}
}

// Undeploying an app that runs on a real App Host audits the undeploy and,
// when its host confirms, the stop: never an app.deploy (the app is
// "running" only until its host confirms the stop). Nor does a later
// report of the same process deploy it again.
func TestStoppingIsNoDeploy(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	e.appHost(t, "east")
	key := e.account(t, "siem")
	app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "forwarder", AppHost: "east",
		AppRuntime: backend.AppRuntime{Command: []string{"/bin/true"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, app.ID, "siem", key.ID, nil)
	session := e.openSession(t, "east", "exec")
	report := func(rep hostapi.AppReport) {
		t.Helper()
		d, err := e.s.AppHostDesired(ctx, "east", session, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		rep.ID, rep.Name, rep.Generation, rep.TokenHash = app.ID, app.Name, d.Apps[0].Generation, hostapi.TokenHash("token-1")
		if _, err := e.s.ReportAppHost(ctx, "east", hostapi.Report{SessionID: session, Revision: d.Revision,
			Apps: []hostapi.AppReport{rep}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.DeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	started := e.clock.Now()
	report(hostapi.AppReport{Phase: hostapi.PhaseRunning, PID: 42, StartedAt: started})
	if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret, App: app.Name, AppToken: "token-1"}); err != nil {
		t.Fatal(err)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning {
		t.Fatalf("status %s (%s), want running", got.Status, got.StatusDetail)
	}
	// Its host silent past the offline delay (the app's detail says so),
	// then reporting the same process again.
	seq := e.lastSeq(t)
	e.clock.Advance(DefaultAppHostOfflineAfter + time.Second)
	if err := e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret, App: app.Name, AppToken: "token-1"}); err != nil {
		t.Fatal(err)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning || !strings.Contains(got.StatusDetail, "offline") {
		t.Fatalf("status %s (%s), want running, its host offline", got.Status, got.StatusDetail)
	}
	report(hostapi.AppReport{Phase: hostapi.PhaseRunning, PID: 42, StartedAt: started})
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning || got.StatusDetail != "" {
		t.Fatalf("status %s (%s), want running", got.Status, got.StatusDetail)
	}
	e.wantActions(t, seq, "forwarder login.success siem")

	seq = e.lastSeq(t)
	if _, err := e.s.UndeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	report(hostapi.AppReport{Phase: hostapi.PhaseStopped})
	e.wantActions(t, seq, "terraform app.undeploy forwarder", "east app.status forwarder")
}

// An app its App Host stopped on its way out (SIGTERM of the host) is
// pending, not starting; and a forgotten App Host that never connected says
// it was forgotten.
func TestStoppedByItsHostIsPending(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	e.appHost(t, "east")
	app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "forwarder", AppHost: "east", Deployed: true,
		AppRuntime: backend.AppRuntime{Command: []string{"/bin/true"}}})
	if err != nil {
		t.Fatal(err)
	}
	session := e.openSession(t, "east", "exec")
	d, err := e.s.AppHostDesired(ctx, "east", session, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ReportAppHost(ctx, "east", hostapi.Report{SessionID: session, Revision: d.Revision,
		Apps: []hostapi.AppReport{{ID: app.ID, Name: app.Name, Generation: d.Apps[0].Generation, Phase: hostapi.PhaseStopped}}}); err != nil {
		t.Fatal(err)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusPending || !strings.Contains(got.StatusDetail, "stopped it") {
		t.Errorf("an app its host stopped: %s (%s), want pending", got.Status, got.StatusDetail)
	}

	if _, err := e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "host-west", AppHost: "west"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.ForgetAppHost(ctx, "west"); err != nil {
		t.Fatal(err)
	}
	hosts, err := e.s.ListAppHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.Name == "west" && (!h.Forgotten || h.State != backend.AppHostUnknown) {
			t.Errorf("a forgotten App Host that never connected: %+v", h)
		}
	}
}

// A failed login with one of the account's previous secrets (a stale copy
// in an app) counts toward the lockout even over the network; any other
// failed network login does not.
func TestPreviousSecretCountsTowardTheLockout(t *testing.T) {
	e := newEnv(t, 3)
	ctx := context.Background()
	acc := e.account(t, "k")
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	for range 5 {
		_ = e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: acc.ID, Secret: "never-held-" + strings.Repeat("x", 30)})
	}
	if got := e.getAccount(t, acc.ID); got.Locked || got.FailedLoginAttempts != 0 {
		t.Fatalf("after network guesses: %+v, want nothing counted", got)
	}
	for range 3 {
		_ = e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: acc.ID, Secret: acc.Secret}) // secret_version 1: stale
	}
	got := e.getAccount(t, acc.ID)
	if !got.Locked {
		t.Errorf("after 3 network logins with the previous secret: %+v, want locked", got)
	}
	var stale int
	for _, ev := range e.events(t) {
		if ev.Action == backend.ActionLoginFailure && strings.Contains(ev.Detail, "previous secret_version=1") {
			stale++
		}
	}
	if stale != 3 {
		t.Errorf("%d failures name the previous secret_version, want 3", stale)
	}
}

// Only the token an App Host registered for an app's current process proves
// the app: another token is an anonymous login, audited under the caller's
// actor and counting for no app's health.
func TestAppTokenProvesTheApp(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	e.appHost(t, "east")
	key := e.account(t, "siem")
	app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "forwarder", AppHost: "east", Deployed: true,
		AppRuntime: backend.AppRuntime{Command: []string{"/bin/true"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, app.ID, "siem", key.ID, nil)
	session := e.openSession(t, "east", "exec")
	d, err := e.s.AppHostDesired(ctx, "east", session, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ReportAppHost(ctx, "east", hostapi.Report{SessionID: session, Revision: d.Revision,
		Apps: []hostapi.AppReport{{ID: app.ID, Name: app.Name, Generation: d.Apps[0].Generation, Phase: hostapi.PhaseRunning,
			PID: 7, StartedAt: e.clock.Now(), TokenHash: hostapi.TokenHash("the-token")}}}); err != nil {
		t.Fatal(err)
	}
	seq := e.lastSeq(t)
	anon := WithActor(ctx, "anonymous")
	if err := e.s.NetworkLogin(anon, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret, App: app.Name, AppToken: "forged"}); err != nil {
		t.Fatal(err)
	}
	if got := e.getApp(t, app.ID); got.Status == backend.StatusRunning {
		t.Errorf("a forged token made the app healthy: %+v", got)
	}
	if err := e.s.NetworkLogin(anon, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret, App: app.Name, AppToken: "the-token"}); err != nil {
		t.Fatal(err)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning {
		t.Errorf("after the app's proven login: %s (%s), want running", got.Status, got.StatusDetail)
	}
	e.wantActions(t, seq, "anonymous login.success siem", "forwarder login.success siem", "east app.deploy forwarder")
}

// A host's periodic report that tells nothing new writes nothing: the app's
// reported_at stays the time of the report that changed it (a host of a
// thousand apps would otherwise rewrite every one every few seconds).
func TestUnchangedReportWritesNothing(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	e.appHost(t, "east")
	app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "forwarder", AppHost: "east", Deployed: true,
		AppRuntime: backend.AppRuntime{Command: []string{"/bin/true"}}})
	if err != nil {
		t.Fatal(err)
	}
	session := e.openSession(t, "east", "exec")
	d, err := e.s.AppHostDesired(ctx, "east", session, 0, 0)
	if err != nil || len(d.Apps) != 1 {
		t.Fatalf("desired %+v, %v", d, err)
	}
	rep := hostapi.Report{SessionID: session, Revision: d.Revision, Apps: []hostapi.AppReport{{ID: app.ID, Name: app.Name,
		Generation: d.Apps[0].Generation, Phase: hostapi.PhaseRunning, PID: 42, StartedAt: e.clock.Now(), TokenHash: hostapi.TokenHash("t")}}}
	reportedAt := func() time.Time {
		t.Helper()
		if _, err := e.s.ReportAppHost(ctx, "east", rep); err != nil {
			t.Fatal(err)
		}
		return e.getApp(t, app.ID).Process.ReportedAt
	}
	reportedAt()
	e.clock.Advance(5 * time.Second)
	first := reportedAt() // running now: up for 3 s (it proves no login)
	if st := e.getApp(t, app.ID).Status; st != backend.StatusRunning {
		t.Fatalf("status %s, want running", st)
	}
	e.clock.Advance(5 * time.Second)
	if again := reportedAt(); !again.Equal(first) {
		t.Errorf("an unchanged report rewrote the app: reported_at %s -> %s", first, again)
	}
	e.clock.Advance(5 * time.Second)
	rep.Apps[0].PID, rep.Apps[0].StartedAt = 43, e.clock.Now()
	if changed := reportedAt(); !changed.After(first) {
		t.Errorf("a report of a new process did not update the app: reported_at %s, first %s", changed, first)
	}
}
