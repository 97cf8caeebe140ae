//go:build linux

package hostfaulttest

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// Case 3: an App Host killed (SIGKILL) and restarted at once. Its apps run
// on meanwhile; the restarted host adopts them (one process per app, the
// same), and the next rotation works.
func TestAppHostKilledAndRestarted(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	s := w.serve(loopback)
	h := w.startHost("east", nil)
	k := key{label: "siem", trigger: "1", apps: []*app{
		w.app("east", "east-1", w.exampleApp()),
		w.app("east", "east-2", w.exampleApp()),
	}}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)

	h.signal(t, syscall.SIGKILL)
	killed := time.Now()
	t.Logf("fault injected: SIGKILL of App Host east (PID %d), restarted at once", h.cmd.Process.Pid)
	for _, a := range k.apps {
		if procs := appProcs(t, a.dir); !slices.Equal(procs, []int{pids[a.Name]}) {
			t.Errorf("app %s: processes %v after its host's SIGKILL, want [%d]", a.Name, procs, pids[a.Name])
		}
	}
	h.restart(w)
	for _, a := range k.apps {
		waitFor(t, "the restarted host to report app "+a.Name, func() bool {
			p := s.getApp(a).Process
			return p != nil && p.ReportedAt.After(killed)
		})
	}
	s.requireRunningAs(pids, true, k.apps...)
	// The adopted apps' logins still prove who they are.
	adopted := time.Now()
	for _, a := range k.apps {
		waitFor(t, "a login of the adopted app "+a.Name, func() bool { return loginsSince(s.events(), a.Name, 1, adopted) > 0 })
	}
	t.Logf("the restarted App Host reported its adopted apps %s after the kill", adopted.Sub(killed).Round(time.Millisecond))

	k.trigger = "2"
	d.write(s.URL, k)
	d.mustApply()
	r := s.rotations(d.key(k.label).ID)[0]
	logDowntime(t, "after the App Host's restart", r)
	if r.Outcome != backend.RotationDone || r.ToVersion != 2 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want done to 2 (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	s.requireRunningAs(pids, false, k.apps...)
	d.requireEnd(s, k, 2, 1)
}

// Case 5, the provider: the provider plugin killed (SIGKILL) while the
// rotation waits for the apps' healthy start (the apps are held at a gate
// at their start). The rotation goes on in the server and ends done; the
// next apply adopts it: rotated exactly once, every app running, and an
// empty plan.
func TestProviderKilledMidRotation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	s := w.serve(loopback)
	w.startHost("east", nil)
	gate := filepath.Join(w.dir, "gate")
	openGate(t, gate)
	k := key{label: "siem", trigger: "1", apps: []*app{
		w.app("east", "east-1", w.gatedApp(gate)),
		w.app("east", "east-2", w.gatedApp(gate)),
	}}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)
	keyID := d.key(k.label).ID

	closeGate(t, gate)
	k.trigger = "2"
	d.write(s.URL, k)
	run, err := d.Start(t.Context(), "apply", "-auto-approve", "-input=false")
	if err != nil {
		t.Fatal(err)
	}
	r := s.waitRotation(keyID, "waiting for its apps' start", waitingForStarts)
	plugins := childrenRunning(run.Cmd.Process.Pid, w.bin)
	if len(plugins) == 0 {
		t.Fatalf("no provider plugin under terraform (PID %d) to kill", run.Cmd.Process.Pid)
	}
	for _, pid := range plugins {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("fault injected: SIGKILL of the provider plugin %v at rotation %s state %s", plugins, r.ID, r.State)
	res, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if res.Code == 0 {
		t.Fatalf("the apply succeeded although its provider was killed:\n%s", res)
	}
	t.Logf("terraform reported: %s", strings.Join(res.ErrorLines(), " | "))

	openGate(t, gate)
	r = s.waitRotation(keyID, "that ended", func(x backend.Rotation) bool { return x.ID == r.ID && x.Ended() })
	logDowntime(t, "provider killed (the apps held at their start until then)", r)
	if r.Outcome != backend.RotationDone || r.ToVersion != 2 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want done to 2 (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	s.requireRunningAs(pids, false, k.apps...)
	d.mustApply()
	d.requireEnd(s, k, 2, 1)
}

// waitingForStarts: a rotation that started its apps with the new secret
// and waits for them to be healthy.
func waitingForStarts(r backend.Rotation) bool {
	if r.State != backend.RotationStarting {
		return false
	}
	for _, st := range r.Steps {
		if st.Phase != backend.StepStarted {
			return false
		}
	}
	return true
}

// Case 5, a replica: two servers on one PostgreSQL store; the one that
// drives a rotation (the provider's endpoint) is killed (SIGKILL) while the
// rotation waits for the apps' healthy start. The other replica's sweeper
// takes it over once its lease expired and finishes it; the next apply,
// through the other replica, adopts it: rotated exactly once, every app
// running, an empty plan.
func TestReplicaKilledMidRotation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{postgres: true})
	fast := []string{"--rotation-lease", "1s", "--rotation-sweep", "200ms"}
	a := w.serve(loopback, fast...)
	b := w.serve(loopback, fast...)
	w.startHost("east", nil) // on both replicas
	gate := filepath.Join(w.dir, "gate")
	openGate(t, gate)
	k := key{label: "siem", trigger: "1", apps: []*app{
		w.app("east", "east-1", w.gatedApp(gate)),
		w.app("east", "east-2", w.gatedApp(gate)),
	}}
	d := w.terraform()
	d.write(a.URL, k)
	d.mustApply()
	pids := b.waitRunning(k.apps...)
	keyID := d.key(k.label).ID

	closeGate(t, gate)
	k.trigger = "2"
	d.write(a.URL, k)
	run, err := d.Start(t.Context(), "apply", "-auto-approve", "-input=false")
	if err != nil {
		t.Fatal(err)
	}
	r := b.waitRotation(keyID, "waiting for its apps' start", waitingForStarts)
	a.signal(t, syscall.SIGKILL)
	killed := time.Now()
	t.Logf("fault injected: SIGKILL of replica %s (PID %d), driving rotation %s at state %s", a.URL, a.cmd.Process.Pid, r.ID, r.State)

	// The other replica takes the rotation over (its sweeper, once the
	// dead one's lease expired); the apps may then start.
	waitFor(t, "the other replica to take the rotation over", func() bool {
		return slices.ContainsFunc(b.events(), func(e backend.AuditEvent) bool {
			return e.Action == backend.ActionRotationStep && e.TargetID == r.ID && strings.Contains(e.Detail, "taken over")
		})
	})
	t.Logf("the other replica took the rotation over %s after the kill", time.Since(killed).Round(time.Millisecond))
	openGate(t, gate)
	r = b.waitRotation(keyID, "that ended", func(x backend.Rotation) bool { return x.ID == r.ID && x.Ended() })
	logDowntime(t, "replica killed (the apps held at their start until the takeover)", r)
	if r.Outcome != backend.RotationDone || r.ToVersion != 2 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want done to 2 (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	b.requireRunningAs(pids, false, k.apps...)

	res, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (through the killed replica): %s", res.Summary(), strings.Join(res.ErrorLines(), " | "))
	if res.Code == 0 || !strings.Contains(flat(res.Output()), "may or may not have happened") {
		t.Errorf("the apply through the killed replica does not say that the rotation may have happened:\n%s", res)
	}
	d.write(b.URL, k)
	d.mustApply()
	d.requireEnd(b, k, 2, 1)
}

// Case 6: the server restarted while the apps run, once with SIGTERM and
// once killed (SIGKILL). The apps ride it out (the example app retries a
// refused connection): none restarts, none fails a login, each logs in
// again after the restart, and nothing changes for Terraform.
func TestServerRestartedWhileAppsRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	s := w.serve(loopback)
	w.startHost("east", nil)
	k := key{label: "siem", trigger: "1", apps: []*app{
		w.app("east", "east-1", w.exampleApp()),
		w.app("east", "east-2", w.exampleApp()),
	}}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)
	before := s.events()
	mark := before[len(before)-1].Seq

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		down := s.restart(sig)
		back := time.Now()
		for _, a := range k.apps {
			waitFor(t, "app "+a.Name+" to log in again", func() bool { return loginsSince(s.events(), a.Name, 1, back) > 0 })
		}
		s.requireRunningAs(pids, true, k.apps...)
		t.Logf("fault injected: the server stopped with %s and started again, down %s; every app logged in again %s later, as the same process",
			sig, down.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	}
	for _, e := range s.events() {
		if e.Seq > mark && (e.Action == backend.ActionAppStatus || e.Action == backend.ActionAppDeploy) {
			t.Errorf("while the server restarted: %s %s %s (the app changed state)", e.Action, e.TargetName, e.Detail)
		}
	}
	d.mustApply()
	d.requireEnd(s, k, 1, 0)
}

// Beyond the six cases: the App Host frozen (SIGSTOP) after it
// acknowledged the rotation, while it stops an app that takes its time to
// stop. It cannot confirm the stop, so the rotation restores the apps it
// stopped and ends refused: nothing regenerated, the app that may still
// run keeps the current secret, no failed login. Let go on, the host runs
// every app again; the next apply rotates the key once.
func TestRotationRestoredWhenAStopIsNotConfirmed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	s := w.serve(loopback)
	h := w.startHost("east", nil)
	stopping, release := filepath.Join(w.dir, "slow-stopping"), filepath.Join(w.dir, "slow-release")
	slow := w.app("east", "slow", w.slowStopApp(stopping, release))
	slow.stopTimeout, slow.procs = "3s", 2
	k := key{label: "siem", trigger: "1", apps: []*app{slow, w.app("east", "quick", w.exampleApp())}}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)
	keyID := d.key(k.label).ID

	k.trigger = "2"
	d.write(s.URL, k)
	run, err := d.Start(t.Context(), "apply", "-auto-approve", "-input=false")
	if err != nil {
		t.Fatal(err)
	}
	// The host asked the slow app to stop, and waits for it.
	waitFor(t, "the slow app to be asked to stop", func() bool {
		_, err := os.Stat(stopping)
		return err == nil
	})
	h.signal(t, syscall.SIGSTOP)
	frozenAt := time.Now()
	waitFor(t, "App Host east to stop", func() bool { return procState(h.cmd.Process.Pid) == 'T' })
	t.Logf("fault injected: SIGSTOP of App Host east (PID %d) while it stops app slow (stop_timeout %s)", h.cmd.Process.Pid, slow.stopTimeout)
	res, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if res.Code == 0 {
		t.Fatalf("the apply succeeded with an App Host that could not confirm a stop:\n%s", res)
	}
	t.Logf("terraform reported, %s after the freeze: %s", time.Since(frozenAt).Round(time.Millisecond), strings.Join(res.ErrorLines(), " | "))
	if out := flat(res.Output()); !strings.Contains(out, "slow on east") || !strings.Contains(out, "refused") {
		t.Errorf("the apply's error does not name app slow on App Host east, refused:\n%s", res)
	}
	r := s.rotations(keyID)[0]
	t.Logf("rotation %s ended %s: %s", r.ID, r.Outcome, r.Error)
	if r.Outcome != backend.RotationRefused || r.ToVersion != 0 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want refused, nothing regenerated", r.ID, r.Outcome, r.ToVersion)
	}
	for _, st := range r.Steps {
		if st.Phase != backend.StepRestored {
			t.Errorf("the refused rotation left app %s %s (%s), want restored", st.AppName, st.Phase, st.Detail)
		}
	}
	if v := s.account(keyID).SecretVersion; v != 1 {
		t.Errorf("secret_version %d in the store after the refusal, want 1", v)
	}

	openGate(t, release)
	h.signal(t, syscall.SIGCONT)
	resumed := time.Now()
	s.waitHostReport("east", resumed)
	after := s.requireRunningAs(pids, false, k.apps...)
	for _, a := range k.apps {
		waitFor(t, "a login of app "+a.Name+" after the host went on", func() bool {
			return loginsSince(s.events(), a.Name, 1, resumed) > 0
		})
	}
	t.Logf("after SIGCONT the apps run again on the current secret (PIDs %v, were %v)", after, pids)

	d.mustApply()
	r = s.rotations(keyID)[0]
	logDowntime(t, "after the host went on", r)
	if r.Outcome != backend.RotationDone || r.ToVersion != 2 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want done to 2 (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	d.requireEnd(s, k, 2, 1)
}
