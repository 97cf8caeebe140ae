//go:build linux

package apphost_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// These tests run the real binary: serve on a SQLite store, the App Host
// (host) with the exec driver, and example apps as its processes.

var bin string // the built binary

// envSessionURL makes the test binary a client that opens an App Host
// session at that URL (run inside a network namespace, so that the server
// sees a peer that is not loopback), as the account in envSessionAuth
// ("ID:SECRET"), and prints the answer's status and body.
const (
	envSessionURL  = "APPHOST_HOST_TEST_SESSION_URL"
	envSessionAuth = "APPHOST_HOST_TEST_SESSION_AUTH"
)

func TestMain(m *testing.M) {
	if u := os.Getenv(envSessionURL); u != "" {
		os.Exit(openSession(u, os.Getenv(envSessionAuth)))
	}
	tfcli.MainWithBinary(m, &bin)
}

// timeout bounds every wait for a state.
const timeout = 30 * time.Second

// offlineAfter is the servers' --app-host-offline-after: short, so that
// nothing waits long for an App Host that went.
const offlineAfter = "3s"

// proc is a started process, its output in files.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr string
	done           chan struct{}
}

// startCmd starts cmd with its output in files, stopped (SIGTERM, then
// SIGKILL) when the test ends.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{cmd: cmd, stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	so, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	se, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = so, se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		_ = so.Close()
		_ = se.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.done:
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(cmd.Args[0])+" "+strings.Join(cmd.Args[1:2], " "), p.errOut())
		}
	})
	return p
}

func (p *proc) out() string    { b, _ := os.ReadFile(p.stdout); return string(b) }
func (p *proc) errOut() string { b, _ := os.ReadFile(p.stderr); return string(b) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%v did not exit; stderr:\n%s", p.cmd.Args, p.errOut())
		return -1
	}
}

// server is a serve process.
type server struct {
	*proc
	URL   string
	store string
	admin backendtest.Admin
	c     *client.Client
}

// startServe starts serve on a new SQLite store, listening on listen, and
// waits until it listens; caFile is for an https server's client.
func startServe(t *testing.T, listen, caFile string, extra ...string) *server {
	t.Helper()
	admin := backendtest.Admin{ID: uuid.NewString(), Secret: strings.TrimRight(rand.Text()+rand.Text(), "=")[:43]}
	return serveOn(t, backendtest.SQLiteStore(t), listen, caFile, admin, extra...)
}

// startReplica starts another serve on a's store.
func startReplica(t *testing.T, a *server) *server {
	t.Helper()
	return serveOn(t, a.store, "127.0.0.1:0", "", a.admin)
}

func serveOn(t *testing.T, store, listen, caFile string, admin backendtest.Admin, extra ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", listen, "--store", store,
		"--app-host-offline-after", offlineAfter}, extra...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = tfcli.CleanEnv("APPHOST_ADMIN_KEY_ID="+admin.ID, "APPHOST_ADMIN_KEY_SECRET="+admin.Secret)
	s := &server{proc: startCmd(t, cmd), store: store, admin: admin}
	waitFor(t, "serve to listen", func() bool {
		if s.exited() {
			t.Fatalf("serve exited:\n%s", s.errOut())
		}
		for line := range strings.Lines(s.out()) {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
				s.URL = u
				return true
			}
		}
		return false
	})
	c, err := client.New(client.Config{Endpoint: s.URL, APIKeyID: admin.ID, APIKeySecret: admin.Secret, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	return s
}

// hostAccount makes the App Host account of name and writes its secret to
// a file (0600); it returns the account's ID and the file.
func (s *server) hostAccount(t *testing.T, name string) (string, string) {
	t.Helper()
	a, err := s.c.CreateAccount(t.Context(), backend.CreateAccountRequest{Name: "host-" + name, AppHost: name})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(a.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return a.ID, f
}

// exampleApp makes an API key account and an example app on host bound to
// it (a bound app secret with no value: the backend fills it), deployed.
func (s *server) exampleApp(t *testing.T, host, name string) (keyID, appID string) {
	t.Helper()
	ctx := t.Context()
	key, err := s.c.CreateAccount(ctx, backend.CreateAccountRequest{Name: name + "-key"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.c.CreateApp(ctx, backend.CreateAppRequest{Name: name, AppHost: host,
		Config:     map[string]string{"login_interval": "1s"},
		AppRuntime: backend.AppRuntime{Command: []string{bin, "example-app"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "api", AccountID: key.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.DeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	return key.ID, app.ID
}

// host is a host process.
type host struct {
	*proc
	dir string
}

// startHost starts an App Host of name on s in dir, as the account id
// with the secret in secretFile.
func startHost(t *testing.T, s *server, name, id, secretFile, dir string, extra ...string) *host {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"host", "--name", name, "--endpoint", s.URL, "--secret-file", secretFile,
		"--dir", dir}, extra...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = tfcli.CleanEnv("APPHOST_API_KEY_ID=" + id)
	return &host{proc: startCmd(t, cmd), dir: dir}
}

// waitFor polls cond until it holds, and fails t after timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(wait) // polling a state with a deadline
	}
}

// waitApp waits until app id satisfies ok, and returns it.
func waitApp(t *testing.T, s *server, id, what string, ok func(*backend.App) bool) *backend.App {
	t.Helper()
	var app *backend.App
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var err error
		if app, err = s.c.GetApp(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if ok(app) {
			return app
		}
		if time.Now().After(deadline) {
			t.Fatalf("app %s is not %s after %s: status %s (%s), process %+v", app.Name, what, timeout, app.Status, app.StatusDetail, app.Process)
		}
		time.Sleep(wait) // polling a state with a deadline
	}
}

func running(a *backend.App) bool {
	return a.Status == backend.StatusRunning && a.Process != nil && a.Process.PID != 0
}

// appProcs are the live processes of the app whose directory is appDir
// (found by the APPHOST_APP_DIR of their environment), whoever started
// them.
func appProcs(t *testing.T, appDir string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("APPHOST_APP_DIR=" + appDir + "\x00")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue // a zombie: gone, not yet reaped
			}
		}
		out = append(out, pid)
	}
	return out
}

// environ is the environment of process pid.
func environ(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\x00", "\n")
}

// failedLogins are the login.failure events of the audit log.
func failedLogins(t *testing.T, s *server) []backend.AuditEvent {
	t.Helper()
	events, err := s.c.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []backend.AuditEvent
	for _, e := range events {
		if e.Action == backend.ActionLoginFailure {
			out = append(out, e)
		}
	}
	return out
}

// provenLoginsSince counts the successful logins as account keyID that app
// made as itself after since.
func provenLoginsSince(t *testing.T, s *server, keyID, app string, since time.Time) int {
	t.Helper()
	events, err := s.c.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == backend.ActionLoginSuccess && e.TargetID == keyID && e.Actor == app && e.Time.After(since) {
			n++
		}
	}
	return n
}

// provenLogins counts the successful logins as account keyID that app
// made as itself (actor: the app's name) with secret_version version.
func provenLogins(t *testing.T, s *server, keyID, app string, version int64) int {
	t.Helper()
	events, err := s.c.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == backend.ActionLoginSuccess && e.TargetID == keyID && e.Actor == app &&
			strings.Contains(e.Detail, fmt.Sprintf("secret_version=%d", version)) {
			n++
		}
	}
	return n
}

// readFile is the trimmed content of path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// deploysSince are the app.deploy events of app after the start of
// rotation id.
func deploysSince(t *testing.T, s *server, app, id string) []backend.AuditEvent {
	t.Helper()
	events, err := s.c.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []backend.AuditEvent
	started := false
	for _, e := range events {
		started = started || (e.Action == backend.ActionRotationStart && e.TargetID == id)
		if started && e.Action == backend.ActionAppDeploy && e.TargetName == app {
			out = append(out, e)
		}
	}
	return out
}

// positiveDowntime: detail says downtime_ms=N with N > 0.
func positiveDowntime(detail string) bool {
	_, v, ok := strings.Cut(detail, "downtime_ms=")
	if !ok {
		return false
	}
	v, _, _ = strings.Cut(v, ",")
	ms, err := strconv.ParseFloat(v, 64)
	return err == nil && ms > 0
}

func openSession(u, auth string) int {
	id, secret, _ := strings.Cut(auth, ":")
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(`{"instance_id":"probe","version":"t","driver":"exec"}`))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	req.SetBasicAuth(id, secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s\n", resp.StatusCode, body)
	return 0
}

// audited reports whether the audit log has an event action of target.
func audited(t *testing.T, s *server, action, target string) bool {
	t.Helper()
	events, err := s.c.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(events, func(e backend.AuditEvent) bool { return e.Action == action && e.TargetName == target })
}
