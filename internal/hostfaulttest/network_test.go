//go:build linux

package hostfaulttest

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/testutil/netns"
)

// twoMachines makes two network namespaces, a and b, and a server that
// listens (HTTPS) on a's root end, which b is routed to: App Hosts in a and
// b are on two machines, each with a link of its own to the server, and
// Terraform and the test reach the server from the root namespace.
func twoMachines(t *testing.T) (*world, *server, *netns.NS, *netns.NS) {
	t.Helper()
	requireAcc(t)
	a, b := netns.New(t), netns.New(t)
	b.Route(t, a.HostAddr)
	w := newWorld(t, worldOptions{tlsAddrs: []netip.Addr{a.HostAddr}})
	return w, w.serve(a.HostAddr), a, b
}

// Case 1: apps on two App Hosts, each in a network namespace of its own; a
// rotation of the key bound to all of them moves them all to the new
// secret, each restarted once, with no failed login.
func TestRotationAcrossTwoAppHosts(t *testing.T) {
	t.Parallel()
	w, s, a, b := twoMachines(t)
	w.startHost("east", a)
	w.startHost("west", b)
	k := key{label: "shared", trigger: "1", apps: []*app{
		w.app("east", "east-1", w.exampleApp()),
		w.app("east", "east-2", w.exampleApp()),
		w.app("west", "west-1", w.exampleApp()),
		w.app("west", "west-2", w.exampleApp()),
	}}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)

	k.trigger = "2"
	d.write(s.URL, k)
	d.mustApply()
	keyID := d.key(k.label).ID
	r := s.rotations(keyID)[0]
	logDowntime(t, "two App Hosts", r)
	if r.Outcome != backend.RotationDone || r.ToVersion != 2 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want done to 2 (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	s.requireRunningAs(pids, false, k.apps...)
	d.requireEnd(s, k, 2, 1)
}

// Case 2: when the rotation starts, one App Host is frozen (SIGSTOP of its
// process) and the other cut off (its namespace's link down). The rotation
// ends refused, naming both: nothing stopped, nothing regenerated, every
// app still running as the same process. With the host let go on and the
// link up again, the next apply rotates the key once.
func TestRotationRefusedWhileHostsAreFrozenOrCutOff(t *testing.T) {
	t.Parallel()
	w, s, a, b := twoMachines(t)
	frozen := w.startHost("frozen", a)
	w.startHost("cutoff", b)
	k := key{label: "shared", trigger: "1", apps: []*app{
		w.app("frozen", "frozen-1", w.exampleApp()),
		w.app("frozen", "frozen-2", w.exampleApp()),
		w.app("cutoff", "cutoff-1", w.exampleApp()),
		w.app("cutoff", "cutoff-2", w.exampleApp()),
	}}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(k.apps...)
	keyID := d.key(k.label).ID

	// ip netns exec became the host (exec): its PID is the host's.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", frozen.cmd.Process.Pid)); err != nil || exe != w.bin {
		t.Fatalf("PID %d runs %q (%v), not the App Host %s", frozen.cmd.Process.Pid, exe, err, w.bin)
	}
	frozen.signal(t, syscall.SIGSTOP)
	waitFor(t, "App Host frozen to stop", func() bool { return procState(frozen.cmd.Process.Pid) == 'T' })
	b.LinkDown(t)
	t.Logf("faults injected: SIGSTOP of App Host frozen (PID %d), link down of App Host cutoff's namespace %s", frozen.cmd.Process.Pid, b.Name)
	k.trigger = "2"
	d.write(s.URL, k)
	res := d.apply()
	if res.Code == 0 {
		t.Fatalf("the apply succeeded with an App Host frozen and one cut off:\n%s", res)
	}
	t.Logf("terraform reported: %s", strings.Join(res.ErrorLines(), " | "))
	// Each host is named with its apps, "frozen (apps frozen-1, frozen-2)".
	for _, want := range []string{"refused", "frozen (apps frozen-1, frozen-2)", "cutoff (apps cutoff-1, cutoff-2)"} {
		if !strings.Contains(flat(res.Output()), want) {
			t.Errorf("the apply's error does not say %q:\n%s", want, res.Output())
		}
	}
	r := s.rotations(keyID)[0]
	t.Logf("rotation %s ended %s: %s", r.ID, r.Outcome, r.Error)
	if r.Outcome != backend.RotationRefused || r.ToVersion != 0 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want refused, nothing regenerated", r.ID, r.Outcome, r.ToVersion)
	}
	for _, st := range r.Steps {
		if st.StoppedAt != nil {
			t.Errorf("the refused rotation stopped app %s (step %s)", st.AppName, st.Phase)
		}
	}
	if v := d.key(k.label).Version; v != 1 {
		t.Errorf("secret_version %d in state after the refusal, want 1", v)
	}
	if v := s.account(keyID).SecretVersion; v != 1 {
		t.Errorf("secret_version %d in the store after the refusal, want 1", v)
	}
	// Every app runs on as the same process, whatever its host can say.
	for _, x := range k.apps {
		if procs := appProcs(t, x.dir); len(procs) != 1 || procs[0] != pids[x.Name] {
			t.Errorf("app %s: processes %v after the refusal, want [%d]", x.Name, procs, pids[x.Name])
		}
	}

	resumed := time.Now()
	frozen.signal(t, syscall.SIGCONT)
	b.LinkUp(t)
	for _, h := range []string{"frozen", "cutoff"} {
		s.waitHostReport(h, resumed)
	}
	s.requireRunningAs(pids, true, k.apps...)
	t.Logf("both App Hosts report again %s after the faults ended", time.Since(resumed).Round(time.Millisecond))

	d.mustApply()
	r = s.rotations(keyID)[0]
	logDowntime(t, "after the faults", r)
	if r.Outcome != backend.RotationDone || r.ToVersion != 2 {
		t.Errorf("rotation %s: outcome %s to secret_version %d, want done to 2 (%s)", r.ID, r.Outcome, r.ToVersion, r.Error)
	}
	s.requireRunningAs(pids, false, k.apps...)
	d.requireEnd(s, k, 2, 1)
}
