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

// killLease is the rotation lease of the provider processes of the kill
// test: the recovery apply takes over a dead provider's rotation after it.
const killLease = "1s"

// TestKillProviderMidRotation kills the provider plugin (SIGKILL) during a
// multi-key rotation apply (-parallelism=1), right after each commit of the
// first key's rotation in turn: its start, each step (prepared, stopped,
// regenerated) and its end, before the provider saved the new state. The
// SQLite store must stay consistent, and the next apply must converge with
// the key rotated exactly once (it takes over the unfinished rotation after
// the dead provider's lease, or adopts the finished one): every app running
// on the new secret, no failed login, no lock, an empty plan after.
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
		nth    int // the nth such event of the key's rotation
	}{
		{"after_start", backend.ActionRotationStart, 1},
		{"after_prepare", backend.ActionRotationStep, 1},
		{"after_stop", backend.ActionRotationStep, 2},
		{"after_regenerate", backend.ActionAccountRegenerate, 1},
		{"after_end", backend.ActionRotationEnd, 1},
	}
	for _, p := range points {
		dir := filepath.Join(filepath.Dir(base), p.name)
		copyDir(t, base, dir)
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(dir, "apphost.db")
			w := newTFDir(t, dir)
			w.Workdir = w.WithEnv("APPHOST_ROTATION_LEASE=" + killLease)
			w.write(configBound(embeddedProvider(db), "", 2, 3, "2"))
			svc := openStore(t, db)
			mark := backendtest.LastSeq(t, svc)
			before, _ := w.state().key(key)

			// One operation at a time, so the kill lands right after the
			// commit, before anything else.
			run := w.startApply("-parallelism=1")
			target, killedAfter, pids := watchAndKill(t, svc, run, w.bin, db, mark, func(e backend.AuditEvent) bool {
				return e.Action == p.action && e.TargetName == key
			}, p.nth)
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
			ks, _ := w.state().key(key)
			acct, err := svc.GetAccount(context.Background(), ks.ID)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("after the kill: secret_version %d in the store, %d in state (was %d); locked=%v",
				acct.SecretVersion, ks.Version, before.Version, acct.Locked)
			if acct.Locked {
				t.Errorf("the account is locked after the kill")
			}

			// The next apply finishes (or adopts) the rotation: the key is
			// rotated exactly once over both applies.
			w.mustApply()
			integrityCheck(t, db)
			all := backendtest.EventsAfter(t, svc, mark)
			regens := 0
			for _, e := range all {
				if e.Action == backend.ActionAccountRegenerate && e.TargetName == key {
					regens++
				}
			}
			if regens != 1 {
				t.Errorf("the key was regenerated %d times over the killed apply and the recovery, want exactly once:\n%s", regens, auditLog(all))
			}
			st := w.state()
			if ks, _ = st.key(key); ks.Version != before.Version+1 {
				t.Errorf("secret_version %d in state after the recovery, want %d", ks.Version, before.Version+1)
			}
			requireConverged(t, svc, st, mark, keys)
			w.requireEmptyPlan()
		})
	}
}

// watchAndKill waits for the nth audit event after seq mark that match
// accepts and kills the provider plugin of run (SIGKILL) right after the
// transaction that wrote it. To stop the plugin before it can take another
// step, the watcher freezes it (SIGSTOP) whenever the store's WAL file
// changes, reads the audit log, and either kills it or lets it go on
// (SIGCONT). It returns the target event, the newest sequence number at the
// kill, and the PIDs killed.
func watchAndKill(t *testing.T, b backend.Backend, run tfRun, bin, db string, mark int64, match func(backend.AuditEvent) bool, nth int) (backend.AuditEvent, int64, []int) {
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
			if match(e) {
				if nth--; nth > 0 {
					continue
				}
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
	t.Fatalf("the awaited event did not appear during the apply:\n%s", res.Output())
	return backend.AuditEvent{}, 0, nil
}
