//go:build linux

package apphost_test

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// An App Host runs its apps for real: the example app runs as a process,
// logs in as itself, and is running; a rotation restarts it on the new
// secret (a new process, no failed login); a host killed with SIGKILL and
// restarted at once adopts the app (one process, the same) and the next
// rotation works; declared lost, the host stops the app and starts it
// again; SIGTERM of the host stops its apps, and the host goes offline.
func TestHostRunsRotatesAdoptsAndStops(t *testing.T) {
	s := startServe(t, "127.0.0.1:0", "")
	id, secretFile := s.hostAccount(t, "east")
	keyID, appID := s.exampleApp(t, "east", "forwarder")
	dir := filepath.Join(t.TempDir(), "host-east")
	appDir := filepath.Join(dir, "apps", "forwarder")
	h := startHost(t, s, "east", id, secretFile, dir)

	app := waitApp(t, s, appID, "running", running)
	first := app.Process.PID
	if procs := appProcs(t, appDir); !slices.Equal(procs, []int{first}) {
		t.Fatalf("processes of the app %v, want [%d]", procs, first)
	}
	// The app's environment is its own: nothing of the host's.
	hostSecret := readFile(t, secretFile)
	if env := environ(t, first); strings.Contains(env, id) || strings.Contains(env, hostSecret) {
		t.Errorf("the app's environment holds the App Host's credentials:\n%s", env)
	}
	if n := provenLogins(t, s, keyID, "forwarder", 1); n == 0 {
		t.Errorf("no login of the app as itself with secret_version=1")
	}

	rotate := func(version int64) int {
		t.Helper()
		before := waitApp(t, s, appID, "running", running).Process.PID
		res, err := s.c.RegenerateSecret(t.Context(), backend.RegenerateRequest{ID: keyID})
		if err != nil {
			t.Fatalf("rotation: %v", err)
		}
		if res.Rotation == nil || res.Rotation.Outcome != backend.RotationDone || res.SecretVersion != version {
			t.Fatalf("rotation %+v, secret_version %d: want done, %d", res.Rotation, res.SecretVersion, version)
		}
		app := waitApp(t, s, appID, "running", running)
		if app.Process.PID == before {
			t.Errorf("the app runs as PID %d, as before the rotation", before)
		}
		if procs := appProcs(t, appDir); !slices.Equal(procs, []int{app.Process.PID}) {
			t.Errorf("processes of the app %v, want [%d]", procs, app.Process.PID)
		}
		if n := provenLogins(t, s, keyID, "forwarder", version); n == 0 {
			t.Errorf("no login of the app as itself with secret_version=%d", version)
		}
		if f := failedLogins(t, s); len(f) > 0 {
			t.Fatalf("failed logins: %+v", f)
		}
		for _, st := range res.Rotation.Steps {
			if st.DowntimeMS != nil {
				t.Logf("rotation to secret_version %d: app %s down %.1f ms (stop to first login with the new secret)", version, st.AppName, *st.DowntimeMS)
			}
		}
		// One deploy of the app, which says how long it was down.
		if deploys := deploysSince(t, s, "forwarder", res.Rotation.ID); len(deploys) != 1 || !positiveDowntime(deploys[0].Detail) {
			t.Errorf("app.deploy events of the rotation %+v: want one, with a positive downtime_ms", deploys)
		}
		return app.Process.PID
	}
	second := rotate(2)

	// SIGKILL: the app runs on; the host restarted at once adopts it.
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.wait(t)
	killedAt := time.Now()
	if procs := appProcs(t, appDir); !slices.Equal(procs, []int{second}) {
		t.Fatalf("after the host's SIGKILL, processes of the app %v, want [%d]", procs, second)
	}
	h = startHost(t, s, "east", id, secretFile, dir)
	app = waitApp(t, s, appID, "reported by the restarted host", func(a *backend.App) bool {
		return a.Process != nil && a.Process.ReportedAt.After(killedAt)
	})
	if !running(app) || app.Process.PID != second {
		t.Errorf("after the host's restart: status %s (%s), process %+v; want running as PID %d", app.Status, app.StatusDetail, app.Process, second)
	}
	if procs := appProcs(t, appDir); !slices.Equal(procs, []int{second}) {
		t.Fatalf("after the host's restart, processes of the app %v, want [%d] (adopted)", procs, second)
	}
	// The restarted host reports the token the adopted process holds: its
	// logins (every second) still prove that they are the app's.
	reported := app.Process.ReportedAt
	waitFor(t, "a proven login of the adopted app", func() bool {
		return provenLoginsSince(t, s, keyID, "forwarder", reported) > 0
	})
	third := rotate(3)

	// Declared lost (app-hosts forget, on the server's store): the host's
	// session is fenced; it opens a new one, stops its apps before it
	// starts any, and runs them again.
	cmd := exec.Command(bin, "app-hosts", "forget", "east", "--store", s.store)
	cmd.Env = tfcli.CleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("app-hosts forget: %v: %s", err, out)
	}
	if !audited(t, s, backend.ActionAppHostForget, "east") {
		t.Error("no app_host.forget event")
	}
	app = waitApp(t, s, appID, "running again after forget", func(a *backend.App) bool {
		return running(a) && a.Process.PID != third
	})
	if procs := appProcs(t, appDir); !slices.Equal(procs, []int{app.Process.PID}) {
		t.Errorf("after forget, processes of the app %v, want [%d]", procs, app.Process.PID)
	}
	third = app.Process.PID

	// SIGTERM: the host stops its apps, reports them stopped, and exits 0.
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := h.wait(t); code != 0 {
		t.Errorf("host exit status %d after SIGTERM, want 0", code)
	}
	if procs := appProcs(t, appDir); len(procs) != 0 {
		t.Errorf("after the host's SIGTERM, processes of the app %v (PID %d before), want none", procs, third)
	}
	app = waitApp(t, s, appID, "reported stopped", func(a *backend.App) bool {
		return a.Process != nil && a.Process.Phase == "stopped"
	})
	if app.Process.PID != 0 {
		t.Errorf("process %+v after the host stopped", app.Process)
	}
	// Silent for --app-host-offline-after: offline, and audited so.
	waitFor(t, "the App Host to be offline", func() bool {
		hosts, err := s.c.ListAppHosts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(hosts, func(x backend.AppHost) bool { return x.Name == "east" })
		return i >= 0 && hosts[i].State == backend.AppHostOffline && audited(t, s, backend.ActionAppHostOffline, "east")
	})
}

// An App Host account reaches its own App Host's routes and nothing else:
// not another host's desired state, not the admin API.
func TestHostAccountReachesOnlyItsOwnHost(t *testing.T) {
	s := startServe(t, "127.0.0.1:0", "")
	eastID, eastFile := s.hostAccount(t, "east")
	westID, westFile := s.hostAccount(t, "west")
	s.exampleApp(t, "east", "forwarder")
	east := backendtest.Admin{ID: eastID}
	east.Secret = readFile(t, eastFile)
	west := backendtest.Admin{ID: westID}
	west.Secret = readFile(t, westFile)

	for _, tc := range []struct {
		method, path string
		as           *backendtest.Admin
		body         string
		want         int
	}{
		{"POST", "/v1/app-hosts/east/sessions", &east, `{"instance_id":"i-1","version":"t","driver":"exec"}`, http.StatusCreated},
		{"POST", "/v1/app-hosts/east/sessions", &west, `{"instance_id":"i-2","version":"t","driver":"exec"}`, http.StatusForbidden},
		{"GET", "/v1/app-hosts/east/desired?session=x&after=0&wait_ms=0", &west, "", http.StatusForbidden},
		{"POST", "/v1/app-hosts/east/reports", &west, `{"session_id":"x","revision":0,"apps":[]}`, http.StatusForbidden},
		{"GET", "/v1/accounts", &east, "", http.StatusForbidden},
		{"GET", "/v1/apps", &west, "", http.StatusForbidden},
		{"GET", "/v1/app-hosts", &east, "", http.StatusForbidden},
	} {
		resp := backendtest.Do(t, tc.method, s.URL+tc.path, tc.as, strings.NewReader(tc.body), nil)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s as %s: HTTP %d, want %d", tc.method, tc.path, tc.as.ID, resp.StatusCode, tc.want)
		}
	}
}

// The virtual driver runs no process: each start of an app is a login over
// HTTP as the app, proven with its token, so the app is running on its
// login; a rotation moves it to the new secret.
func TestHostVirtualDriver(t *testing.T) {
	s := startServe(t, "127.0.0.1:0", "")
	id, secretFile := s.hostAccount(t, "sim")
	keyID, appID := s.exampleApp(t, "sim", "load-1")
	startHost(t, s, "sim", id, secretFile, filepath.Join(t.TempDir(), "host-sim"), "--driver", "virtual")

	waitApp(t, s, appID, "running", func(a *backend.App) bool { return a.Status == backend.StatusRunning })
	if n := provenLogins(t, s, keyID, "load-1", 1); n != 1 {
		t.Errorf("%d logins of the app as itself with secret_version=1, want 1", n)
	}
	res, err := s.c.RegenerateSecret(t.Context(), backend.RegenerateRequest{ID: keyID})
	if err != nil || res.Rotation == nil || res.Rotation.Outcome != backend.RotationDone {
		t.Fatalf("rotation: %+v, %v", res, err)
	}
	if n := provenLogins(t, s, keyID, "load-1", 2); n != 1 {
		t.Errorf("%d logins of the app as itself with secret_version=2, want 1", n)
	}
	if f := failedLogins(t, s); len(f) > 0 {
		t.Errorf("failed logins: %+v", f)
	}
}

// An App Host fails over between its endpoints (replicas on one store),
// and so do its apps: with the first replica gone, a rotation through the
// second works.
func TestHostFailsOver(t *testing.T) {
	a := startServe(t, "127.0.0.1:0", "")
	b := startReplica(t, a)
	id, secretFile := a.hostAccount(t, "east")
	keyID, appID := a.exampleApp(t, "east", "forwarder")
	cmd := exec.Command(bin, "host", "--name", "east", "--endpoint", a.URL+","+b.URL, "--secret-file", secretFile,
		"--dir", filepath.Join(t.TempDir(), "host-east"))
	cmd.Dir, cmd.Env = t.TempDir(), tfcli.CleanEnv("APPHOST_API_KEY_ID="+id)
	startCmd(t, cmd)
	first := waitApp(t, a, appID, "running", running).Process.PID

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t)
	res, err := b.c.RegenerateSecret(t.Context(), backend.RegenerateRequest{ID: keyID})
	if err != nil || res.Rotation == nil || res.Rotation.Outcome != backend.RotationDone {
		t.Fatalf("rotation through the second replica: %+v, %v", res, err)
	}
	if app := waitApp(t, b, appID, "running", running); app.Process.PID == first {
		t.Errorf("the app runs as PID %d, as before the rotation", first)
	}
	if f := failedLogins(t, b); len(f) > 0 {
		t.Errorf("failed logins: %+v", f)
	}
}

// A second instance of a name waits while the first is online (one
// process of the app, the first's); when the first is gone past the
// offline delay, it takes the name over, and runs the app.
func TestHostSecondInstanceWaits(t *testing.T) {
	s := startServe(t, "127.0.0.1:0", "")
	id, secretFile := s.hostAccount(t, "east")
	_, appID := s.exampleApp(t, "east", "forwarder")
	dir1, dir2 := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
	h1 := startHost(t, s, "east", id, secretFile, dir1)
	first := waitApp(t, s, appID, "running", running).Process.PID

	h2 := startHost(t, s, "east", id, secretFile, dir2)
	waitFor(t, "the second instance to say that the first is online", func() bool {
		return strings.Contains(h2.errOut(), "another instance of this App Host is online")
	})
	if procs := appProcs(t, filepath.Join(dir1, "apps", "forwarder")); !slices.Equal(procs, []int{first}) {
		t.Errorf("processes of the app under the first instance %v, want [%d]", procs, first)
	}
	if procs := appProcs(t, filepath.Join(dir2, "apps", "forwarder")); len(procs) != 0 {
		t.Errorf("the waiting instance runs the app: %v", procs)
	}

	if err := h1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	h1.wait(t)
	app := waitApp(t, s, appID, "running under the second instance", func(a *backend.App) bool {
		return running(a) && a.Process.PID != first
	})
	if procs := appProcs(t, filepath.Join(dir2, "apps", "forwarder")); !slices.Equal(procs, []int{app.Process.PID}) {
		t.Errorf("processes of the app under the second instance %v, want [%d]", procs, app.Process.PID)
	}
}
