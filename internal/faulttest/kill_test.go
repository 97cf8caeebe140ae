package faulttest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestKillProviderMidRotation kills the provider plugin (SIGKILL) during the
// apply of a rotation, as soon as the rotation's transaction (undeploy,
// regenerate, seal, deploy: one commit) is in the store and before the
// provider saved the new state. The SQLite store must stay consistent, the
// rotation must be there whole, and the next apply must converge: every app
// running and logged in on the new secret, no failed login, no lock, and an
// empty plan after. (A kill inside the transaction is
// backendtest.TestKillMidRotation.)
func TestKillProviderMidRotation(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	const key = "k1"
	apps := appNames(key, 3)
	// A second key rotates after the first (-parallelism=1), so the
	// provider still has work when the first rotation commits: the kill
	// lands between the two, not after the apply ended.
	keys := map[string][]string{key: apps, "k2": appNames("k2", 3)}

	// One set-up apply, copied for each kill point.
	base := filepath.Join(t.TempDir(), "base")
	w := newTFDir(t, base)
	w.write(configBound(embeddedProvider(filepath.Join(base, "apphost.db")), "", 2, 3, "1"))
	w.mustApply()

	points := []struct {
		name   string
		action string
	}{
		{"after_rotation_commit", backend.ActionAccountRegenerate},
	}
	for _, p := range points {
		dir := filepath.Join(filepath.Dir(base), p.name)
		copyDir(t, base, dir)
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(dir, "apphost.db")
			w := newTFDir(t, dir)
			w.write(configBound(embeddedProvider(db), "", 2, 3, "2"))
			svc := openStore(t, db)
			mark := backendtest.LastSeq(t, svc)
			before, _ := w.state().key(key)

			// One operation at a time, so the kill lands right after the
			// rotation's commit, before anything else.
			run := w.startApply("-parallelism=1")
			target, killedAfter, pids := watchAndKill(t, svc, run, w.bin, db, mark, p.action)
			res := run.wait()
			t.Logf("%s (killed pid %v at seq %d: %s %s)", res, pids, target.Seq, target.Action, target.TargetName)
			t.Logf("faults injected: %d SIGKILL", len(pids))
			if len(pids) == 0 {
				t.Fatalf("no provider process to kill; the apply:\n%s", res.Output())
			}
			if res.Code == 0 {
				t.Fatalf("the apply succeeded although its provider was killed:\n%s", res.Output())
			}
			t.Logf("terraform reported: %s", strings.Join(res.ErrorLines(), " | "))

			// The store right after the kill.
			integrityCheck(t, db)
			ev := backendtest.EventsAfter(t, svc, mark)
			t.Logf("audit log of the killed apply (the kill came after seq %d; %d event(s) landed after the target before it):\n%s",
				killedAfter, killedAfter-target.Seq, auditLog(ev))
			st := w.state()
			ks, _ := st.key(key)
			acct, err := svc.GetAccount(context.Background(), ks.ID)
			if err != nil {
				t.Fatal(err)
			}
			lostSecret := acct.SecretVersion > ks.Version
			t.Logf("after the kill: secret_version %d in the store, %d in state (was %d); locked=%v; app secrets in state: %d of %d",
				acct.SecretVersion, ks.Version, before.Version, acct.Locked, countAppSecrets(st, apps), len(apps))
			if lostSecret {
				t.Logf("the secret regenerated before the kill (version %d) never reached the state: "+
					"the next plan finds secret_version moved and regenerates again", acct.SecretVersion)
			}
			if acct.Locked {
				t.Errorf("the account is locked after the kill")
			}
			// The rotation is in the store whole: every app undeployed,
			// resealed and deployed again, or none.
			deploys := 0
			for _, e := range ev {
				if e.Action == backend.ActionAppDeploy && slices.Contains(apps, e.TargetName) {
					deploys++
				}
			}
			if n := deploys; acct.SecretVersion > before.Version && n != len(apps) {
				t.Errorf("after the kill the rotation is in the store with %d of %d redeploys:\n%s", n, len(apps), auditLog(ev))
			}
			for _, name := range apps {
				a, err := svc.GetAppByName(context.Background(), name)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("  app %s: deployed=%v status=%s secrets=%d", name, a.Deployed, a.Status, len(a.Secrets))
			}

			// The next apply completes the rotation.
			killSeq := backendtest.LastSeq(t, svc)
			w.mustApply()
			integrityCheck(t, db)
			rec := backendtest.EventsAfter(t, svc, killSeq)
			regens := 0
			for _, e := range rec {
				if e.Action == backend.ActionAccountRegenerate && e.TargetName == key {
					regens++
				}
			}
			t.Logf("the recovery apply regenerated %d time(s):\n%s", regens, auditLog(rec))
			st = w.state()
			ks, _ = st.key(key)
			switch {
			case ks.Version <= before.Version:
				t.Errorf("secret_version %d after the recovery, want more than %d: the rotation did not happen", ks.Version, before.Version)
			case lostSecret && regens != 1:
				t.Errorf("the secret regenerated before the kill was lost to the state; the recovery regenerated %d times, want 1", regens)
			case !lostSecret && acct.SecretVersion > before.Version && regens != 0:
				t.Errorf("the regenerated secret reached the state before the kill; the recovery regenerated %d times, want 0", regens)
			}
			requireConverged(t, svc, st, mark, keys)
			w.requireEmptyPlan()
		})
	}
}

// watchAndKill waits for the first audit event after seq mark with action
// act and kills the provider plugin of run (SIGKILL) right after the
// transaction that wrote it. To stop the plugin before it can take another
// step, the watcher freezes it (SIGSTOP) whenever the store's WAL file
// changes, reads the audit log, and either kills it or lets it go on
// (SIGCONT). It returns the target event, the newest sequence number at the
// kill, and the PIDs killed.
func watchAndKill(t *testing.T, b backend.Backend, run tfRun, bin, db string, mark int64, act string) (backend.AuditEvent, int64, []int) {
	t.Helper()
	ctx := context.Background()
	wal := db + "-wal"
	walState := func() (int64, time.Time) {
		fi, err := os.Stat(wal)
		if err != nil {
			return -1, time.Time{}
		}
		return fi.Size(), fi.ModTime()
	}
	size, mod := walState()
	var pids []int
	parent := run.Cmd.Process.Pid
	signal := func(sig syscall.Signal) {
		for _, pid := range pids {
			if isProvider(pid, parent, bin) {
				_ = syscall.Kill(pid, sig)
			}
		}
	}
	after := mark
	deadline := time.Now().Add(2 * time.Minute)
	lastScan := time.Time{}
	for time.Now().Before(deadline) && !run.Exited() {
		s, m := walState()
		if s == size && m.Equal(mod) {
			if time.Since(lastScan) > 5*time.Millisecond {
				pids = providerPIDs(parent, bin)
				lastScan = time.Now()
			}
			time.Sleep(100 * time.Microsecond)
			continue
		}
		size, mod = s, m
		signal(syscall.SIGSTOP)
		// A plugin started since the last scan.
		for _, pid := range providerPIDs(parent, bin) {
			if !slices.Contains(pids, pid) {
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				pids = append(pids, pid)
			}
		}
		ev, err := b.ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: after})
		if err != nil {
			signal(syscall.SIGCONT)
			t.Fatalf("reading the audit log: %v", err)
		}
		for _, e := range ev {
			if e.Action == act {
				var killed []int
				for _, pid := range pids {
					if isProvider(pid, parent, bin) && syscall.Kill(pid, syscall.SIGKILL) == nil {
						killed = append(killed, pid)
					}
				}
				return e, ev[len(ev)-1].Seq, killed
			}
		}
		if len(ev) > 0 {
			after = ev[len(ev)-1].Seq
		}
		signal(syscall.SIGCONT)
	}
	signal(syscall.SIGCONT)
	if !run.Exited() {
		_ = run.Cmd.Process.Kill()
	}
	res := run.wait()
	t.Fatalf("no %s event appeared during the apply:\n%s", act, res.Output())
	return backend.AuditEvent{}, 0, nil
}

func countAppSecrets(st tfState, apps []string) int {
	n := 0
	for _, a := range apps {
		if st.attrs("apphost_app_secret", a) != nil {
			n++
		}
	}
	return n
}
