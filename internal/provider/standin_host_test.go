package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// standInHost plays a real App Host in the test process: it speaks the App
// Host protocol of the real domain (the embedded backend's core.Service:
// session, desired state, reports) on the test's store, and "runs" each app
// it is meant to run by reporting it running, or, when the app's command is
// ["false"], failed with an exit code and a line of stderr. It is what
// `terraform-provider-apphost host` does minus the processes (the provider
// sees the statuses the domain derives from the reports), and it reports
// every reportEvery, which keeps it online.
type standInHost struct {
	t      *testing.T
	svc    *core.Service
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

const reportEvery = 200 * time.Millisecond

// startStandInHost connects a stand-in App Host as name (an App Host
// account must claim it) and runs it until stop or the end of the test.
func (e *accEnv) startStandInHost(name string) *standInHost {
	e.t.Helper()
	svc, ok := e.b.(*core.Service)
	if !ok {
		e.t.Fatalf("the stand-in App Host needs the embedded backend, not %T", e.b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sess, err := svc.OpenAppHostSession(ctx, name, "127.0.0.1", hostapi.SessionRequest{
		InstanceID: uuid.NewString(), Version: "test", Driver: "virtual",
	})
	if err != nil {
		cancel()
		e.t.Fatalf("opening a session of App Host %s: %v", name, err)
	}
	h := &standInHost{t: e.t, svc: svc, name: name, cancel: cancel, done: make(chan struct{})}
	go h.run(ctx, sess.SessionID)
	e.t.Cleanup(h.stop)
	return h
}

// stop ends the stand-in: it reports no more (and goes offline in time).
func (h *standInHost) stop() {
	h.cancel()
	<-h.done
}

func (h *standInHost) run(ctx context.Context, session string) {
	defer close(h.done)
	// started is when each app's current generation "started".
	started := map[string]time.Time{}
	var rev int64
	for ctx.Err() == nil {
		d, err := h.svc.AppHostDesired(ctx, h.name, session, rev, reportEvery)
		if err != nil {
			if ctx.Err() == nil {
				h.t.Errorf("stand-in App Host %s: reading the desired state: %v", h.name, err)
			}
			return
		}
		rev = d.Revision
		rep := hostapi.Report{SessionID: session, Revision: d.Revision}
		for i, a := range d.Apps {
			ar := hostapi.AppReport{ID: a.ID, Name: a.Name, Generation: a.Generation, Phase: hostapi.PhaseStopped}
			key := fmt.Sprintf("%s/%d", a.ID, a.Generation)
			switch {
			case !a.Run:
				delete(started, a.ID)
			case len(a.Command) > 0 && a.Command[0] == "false":
				ar.Phase, ar.ExitCode, ar.Restarts = hostapi.PhaseFailed, 3, 5
				ar.StderrTail = "stand-in: cannot start"
			default:
				at, ok := started[key]
				if !ok {
					at = time.Now()
					started[key] = at
				}
				ar.Phase, ar.PID, ar.StartedAt = hostapi.PhaseRunning, 4000+i, at
			}
			rep.Apps = append(rep.Apps, ar)
		}
		if _, err := h.svc.ReportAppHost(ctx, h.name, rep); err != nil && ctx.Err() == nil {
			h.t.Errorf("stand-in App Host %s: reporting: %v", h.name, err)
			return
		}
		// A desired state that did not change came back after reportEvery;
		// one that did came at once: report it, then wait for the next.
	}
}

// awaitAppHostState waits until the backend lists the App Host name in
// state want.
func (e *accEnv) awaitAppHostState(name, want string, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		hosts, err := e.b.ListAppHosts(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, h := range hosts {
			if h.Name == name && h.State == want {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("App Host %s is not %s after %s: %+v", name, want, within, hosts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitApp waits until check accepts the app named name.
func (e *accEnv) awaitApp(name string, within time.Duration, check func(*backend.App) error) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		a, err := e.b.GetAppByName(context.Background(), name)
		if err == nil {
			if err = check(a); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("app %s: %v after %s", name, err, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
