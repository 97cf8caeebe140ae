//go:build linux

package hostfaulttest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// brokenLine is what the broken app says on stderr before it exits 3.
const brokenLine = "broken-app: cannot start: the secret changed since the first start"

// Case 4: an app that cannot start with the new secret (it exits 3 at
// once, saying why on stderr). The rotation ends done_with_failures: the
// key has its new secret, once, in the store and in state; the apply fails
// naming the app with its status_detail; the other apps run on the new
// secret; and the next plan redeploys the app. A fixed version of the app
// (another command) then runs, and the plan after it is empty.
func TestAppThatCannotStartWithTheNewSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	s := w.serve(loopback)
	w.startHost("east", nil)
	good := []*app{w.app("east", "good-1", w.exampleApp()), w.app("east", "good-2", w.exampleApp())}
	broken := w.app("east", "broken", w.brokenApp(filepath.Join(w.dir, "broken-first-secret")))
	broken.version = "1.0"
	k := key{label: "siem", trigger: "1", apps: append(good, broken)}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)
	keyID := d.key(k.label).ID

	k.trigger = "2"
	d.write(s.URL, k)
	res := d.apply()
	if res.Code == 0 {
		t.Fatalf("the apply succeeded although an app did not start with the new secret:\n%s", res)
	}
	t.Logf("fault injected: app broken exits 3 with the new secret; terraform reported: %s", strings.Join(res.ErrorLines(), " | "))
	out := flat(res.Output())
	for _, want := range []string{"broken (exited with code 3", brokenLine} {
		if !strings.Contains(out, want) {
			t.Errorf("the apply's error does not say %q:\n%s", want, res.Output())
		}
	}
	r := s.rotations(keyID)[0]
	logDowntime(t, "an app that cannot start", r)
	if r.Outcome != backend.RotationDoneWithFailures || r.ToVersion != 2 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want done_with_failures to 2 (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	for _, st := range r.Steps {
		if failed := st.Phase == backend.StepFailed; failed != (st.AppName == broken.Name) {
			t.Errorf("rotation step of app %s: %s (%s)", st.AppName, st.Phase, st.Detail)
		}
	}
	if got := s.getApp(broken); got.Status != backend.StatusFailed || !strings.Contains(got.StatusDetail, brokenLine) {
		t.Errorf("app broken: status %s (%s), want failed, with its stderr", got.Status, got.StatusDetail)
	}
	if procs := appProcs(t, broken.dir); len(procs) != 0 {
		t.Errorf("app broken, failed, still has processes %v", procs)
	}
	s.requireRunningAs(pids, false, good...)
	if v := d.key(k.label).Version; v != 2 {
		t.Errorf("secret_version %d in state after the rotation with failures, want 2 (the key has its new secret)", v)
	}
	if v := s.account(keyID).SecretVersion; v != 2 {
		t.Errorf("secret_version %d in the store after the rotation with failures, want 2", v)
	}

	// The next plan redeploys it.
	p := d.run("plan", "-detailed-exitcode", "-input=false")
	if plan := flat(p.Output()); p.Code != 2 || !strings.Contains(plan, "apphost_app.broken will be updated in-place") ||
		!strings.Contains(plan, `App "broken" failed: this plan redeploys it`) {
		t.Errorf("the plan after the failed start does not redeploy app broken:\n%s", p)
	}

	// A fixed version runs with the new secret.
	broken.command, broken.version = w.exampleApp(), "1.1"
	d.write(s.URL, k)
	d.mustApply()
	d.requireEnd(s, k, 2, 1)
}
