//go:build linux

package hostfaulttest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// slowBrokenApp is brokenApp that takes its time to fail: with a secret
// other than its first start's, it says nothing for 4 s (it never logs
// in), then exits 3.
func (w *world) slowBrokenApp(mark string) []string {
	return []string{"/bin/sh", "-c", `s=$(sha256sum < "$APPHOST_APP_DIR/secrets/api") || exit 1
[ -e "$1" ] || echo "$s" > "$1"
if [ "$s" != "$(cat "$1")" ]; then sleep 4; echo "broken-app: cannot start: the secret changed since the first start" >&2; exit 3; fi
exec "$2" example-app`, "slow-broken-app", mark, w.bin}
}

// An overlap canary that proved who it is (it logged in with its token
// before the rotation) and, restarted on the pending secret, says nothing
// for 4 s, then exits 3. DESIGN: it never runs on the pending secret, so
// the rotation rolls back (the apply fails naming it), the other apps
// never move, and the key is as it was; fixed, the next apply rotates it.
//
// A restarted process starts its health over; an app that proved who it is
// before must prove it again (core healthy): the 3 s uptime rule is only
// for apps that never say who they are.
func TestOverlapSlowCanaryRollsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	s := w.serve(loopback)
	w.startHost("east", nil)
	canary := w.app("east", "a-slow-canary", w.slowBrokenApp(filepath.Join(w.dir, "canary-first-secret")))
	canary.version = "1.0"
	others := []*app{w.app("east", "b-app", w.exampleApp()), w.app("east", "c-app", w.exampleApp())}
	k := key{label: "siem", trigger: "1", strategy: backend.StrategyOverlap, apps: append([]*app{canary}, others...)}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)
	keyID := d.key(k.label).ID
	if provenLogins(s.events(), keyID, canary.Name, 1) == 0 {
		t.Fatalf("app %s made no login as itself before the rotation", canary.Name)
	}
	old := secretOf(t, others[0])

	k.trigger = "2"
	d.write(s.URL, k)
	res := d.apply()
	r := s.rotations(keyID)[0]
	logDowntime(t, "a slow canary", r)
	if res.Code == 0 || !strings.Contains(flat(res.Output()), "rolled back") || !strings.Contains(flat(res.Output()), canary.Name) {
		t.Errorf("the apply of a rotation whose canary never ran on the pending secret: exit %d, want the rolled-back error naming %s:\n%s",
			res.Code, canary.Name, res)
	}
	if r.Outcome != backend.RotationRolledBack || r.ToVersion != 0 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want rolled_back, nothing promoted (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	s.requireRunningAs(pids, true, others...) // never moved
	if v, sv := s.account(keyID).SecretVersion, d.key(k.label).Version; v != 1 || sv != 1 {
		t.Errorf("after the rollback: secret_version %d in the store and %d in state, want 1", v, sv)
	}
	if err := s.login(keyID, old); err != nil {
		t.Errorf("the current secret after the rollback: %v", err)
	}

	// Fixed first (with the trigger as the state has it: an apply that
	// changed both would move the canary while its update may still be on
	// the way), then the canary runs with the new secret.
	canary.command, canary.version, k.trigger = w.exampleApp(), "1.1", "1"
	d.write(s.URL, k)
	d.mustApply()
	k.trigger = "2"
	d.write(s.URL, k)
	d.mustApply()
	d.requireEnd(s, k, 2, 1)
}
