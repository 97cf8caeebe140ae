//go:build linux

package hostfaulttest

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// flakyApp is the example app until the file crash exists; from then on
// each start exits 3 after a second: an app that crash-loops.
func (w *world) flakyApp(crash string) []string {
	return []string{"/bin/sh", "-c", `if [ -e "$1" ]; then sleep 1; echo "flaky-app: crashed" >&2; exit 3; fi
exec "$2" example-app`, "flaky-app", crash, w.bin}
}

// A fix applied to an app that crash-loops (status starting between its
// restarts): the update of its command and version must reach its App
// Host, which runs the fixed command; the app must not end failed on the
// old one.
//
// (Found with issue 20's fault tests: core UpdateApp redeployed a changed
// app only when it was running or failed; one starting got its row
// changed but no new generation, so its App Host kept restarting the old
// command and the apply succeeded.)
func TestUpdateOfACrashLoopingApp(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	s := w.serve(loopback)
	w.startHost("east", nil)
	crash := filepath.Join(w.dir, "crash")
	flaky := w.app("east", "flaky", w.flakyApp(crash))
	flaky.version = "1.0"
	k := key{label: "siem", trigger: "1", apps: []*app{flaky}}
	d := w.terraform()
	d.write(s.URL, k)
	d.mustApply()
	pids := s.waitRunning(flaky)

	openGate(t, crash)
	if err := syscall.Kill(pids[flaky.Name], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "app flaky to crash-loop (starting)", func() bool { return s.getApp(flaky).Status == backend.StatusStarting })
	flaky.command, flaky.version = w.exampleApp(), "1.1"
	d.write(s.URL, k)
	d.mustApply()
	var got *backend.App
	waitFor(t, "app flaky to run or fail", func() bool {
		got = s.getApp(flaky)
		return running(got) || got.Status == backend.StatusFailed
	})
	if got.Status == backend.StatusFailed {
		t.Fatalf("app flaky, fixed while it crash-looped, failed: %s", got.StatusDetail)
	}
	d.requireEnd(s, k, 1, 0)
}
