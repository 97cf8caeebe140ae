package exampleapp_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/appconfig"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

var bin string // the built binary

func TestMain(m *testing.M) {
	tfcli.MainWithBinary(m, &bin)
}

const timeout = 30 * time.Second

// proc is a started process of the binary, its output in files.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr string
	done           chan struct{}
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	so, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	se, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = so, se
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		_ = so.Close()
		_ = se.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
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

// stop sends SIGTERM and returns the exit status.
func (p *proc) stop(t *testing.T) int {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%v did not stop on SIGTERM", p.cmd.Args)
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitExit waits for the process to exit by itself and returns its status.
func (p *proc) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%v did not exit; stderr:\n%s", p.cmd.Args, p.errOut())
		return -1
	}
}

// server is a serve process on a store.
type server struct {
	*proc
	URL   string
	store string
	admin backendtest.Admin
}

func newAdmin() backendtest.Admin {
	return backendtest.Admin{ID: uuid.NewString(), Secret: strings.TrimRight(rand.Text()+rand.Text(), "=")[:43]}
}

// startServe starts serve on listen (127.0.0.1:0 for any port) and waits
// until it listens.
func startServe(t *testing.T, store, listen string, admin backendtest.Admin, extra ...string) *server {
	t.Helper()
	env := tfcli.CleanEnv("APPHOST_ADMIN_KEY_ID="+admin.ID, "APPHOST_ADMIN_KEY_SECRET="+admin.Secret)
	s := &server{store: store, admin: admin}
	s.proc = start(t, env, append([]string{"serve", "--listen", listen, "--store", store}, extra...)...)
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
	return s
}

// client is an admin client of s (a CA file for https).
func (s *server) client(t *testing.T, caFile string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoint: s.URL, APIKeyID: s.admin.ID, APIKeySecret: s.admin.Secret, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// account makes an API key account and returns its ID and secret.
func account(t *testing.T, c *client.Client, name string) (string, string) {
	t.Helper()
	a, err := c.CreateAccount(t.Context(), backend.CreateAccountRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID, a.Secret
}

// logins counts the audited logins of account id by action.
func logins(t *testing.T, c *client.Client, id string) (ok, failed int) {
	t.Helper()
	events, err := c.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.TargetID != id {
			continue
		}
		switch e.Action {
		case backend.ActionLoginSuccess:
			ok++
		case backend.ActionLoginFailure:
			failed++
		}
	}
	return ok, failed
}

// appDir writes an app's directory as an App Host does: app.config with a
// bound secret "k" and the secret file.
func appDir(t *testing.T, accountID, secret string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	settings := map[string]string{"k": appconfig.SecretRef("k"), appconfig.KeyIDKey("k"): accountID, "login_interval": "100ms"}
	for k, v := range extra {
		settings[k] = v
	}
	b, err := appconfig.Render(settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, appconfig.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, appconfig.SecretsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	writeSecret(t, dir, secret)
	return dir
}

func writeSecret(t *testing.T, dir, secret string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, appconfig.SecretsDir, "k"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startApp runs example-app as an App Host would.
func startApp(t *testing.T, dir, endpoint string, extra ...string) *proc {
	t.Helper()
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "APPHOST_ENDPOINT=" + endpoint,
		"APPHOST_APP_NAME=forwarder", "APPHOST_APP_DIR=" + dir, "APPHOST_APP_TOKEN=token-1"}, extra...)
	return start(t, env, "example-app")
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a state with a deadline
	}
}

// noSecretIn fails t when the app's output holds one of secrets.
func noSecretIn(t *testing.T, p *proc, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(p.out()+p.errOut(), s) {
			t.Errorf("the app's output holds a secret:\n%s\n%s", p.out(), p.errOut())
		}
	}
}

// The app logs in with its bound secret, again every login_interval, and
// exits 0 on SIGTERM.
func TestLogsInAndAgain(t *testing.T) {
	srv := startServe(t, backendtest.SQLiteStore(t), "127.0.0.1:0", newAdmin())
	c := srv.client(t, "")
	id, secret := account(t, c, "siem")
	app := startApp(t, appDir(t, id, secret, nil), srv.URL)
	waitFor(t, "two logins", func() bool { ok, _ := logins(t, c, id); return ok >= 2 })
	if code := app.stop(t); code != 0 {
		t.Errorf("exit status on SIGTERM: %d, want 0; stderr:\n%s", code, app.errOut())
	}
	if want := "example-app: app forwarder logged in as API key account " + id; !strings.Contains(app.out(), want) {
		t.Errorf("stdout %q lacks %q", app.out(), want)
	}
	if _, failed := logins(t, c, id); failed != 0 {
		t.Errorf("%d failed logins", failed)
	}
	noSecretIn(t, app, secret)
}

// On SIGHUP the app rereads its secret file and logs in with it: a rotated
// secret works at once; a wrong one is rejected (401) and the app exits
// non-zero, naming the secret file, after one failed login.
func TestReloadRereadsSecret(t *testing.T) {
	srv := startServe(t, backendtest.SQLiteStore(t), "127.0.0.1:0", newAdmin())
	c := srv.client(t, "")
	id, secret := account(t, c, "siem")
	dir := appDir(t, id, secret, map[string]string{"login_interval": "1h"})
	app := startApp(t, dir, srv.URL)
	waitFor(t, "the first login", func() bool { ok, _ := logins(t, c, id); return ok == 1 })

	// Rotated: the new secret in the file, then SIGHUP.
	rotated, err := c.RegenerateSecret(t.Context(), backend.RegenerateRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	writeSecret(t, dir, rotated.Secret)
	if err := app.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a login with the rotated secret", func() bool { ok, _ := logins(t, c, id); return ok == 2 })

	// Wrong: rejected, and the app exits.
	const wrong = "not-the-secret-of-this-account-0123456789ab"
	writeSecret(t, dir, wrong)
	if err := app.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if code := app.waitExit(t); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	want := "example-app: the server rejected the secret in secrets/k for API key account " + id + " (HTTP 401"
	if !strings.Contains(app.errOut(), want) {
		t.Errorf("stderr %q lacks %q", app.errOut(), want)
	}
	if _, failed := logins(t, c, id); failed != 1 {
		t.Errorf("%d failed logins, want 1: a rejected login is not retried", failed)
	}
	noSecretIn(t, app, secret, rotated.Secret, wrong)
}

// A server restart stops no app: it retries with a backoff and logs in
// again once the server is back.
func TestSurvivesServerRestart(t *testing.T) {
	store := backendtest.SQLiteStore(t)
	admin := newAdmin()
	srv := startServe(t, store, "127.0.0.1:0", admin)
	c := srv.client(t, "")
	id, secret := account(t, c, "siem")
	app := startApp(t, appDir(t, id, secret, nil), srv.URL)
	waitFor(t, "a login", func() bool { ok, _ := logins(t, c, id); return ok >= 1 })

	if code := srv.stop(t); code != 0 {
		t.Fatalf("serve exit status %d:\n%s", code, srv.errOut())
	}
	before := auditLogins(t, store, id) // read with no server running
	waitFor(t, "the app to retry", func() bool { return strings.Contains(app.errOut(), "retrying in") })
	if app.exited() {
		t.Fatalf("the app exited while the server was down:\n%s", app.errOut())
	}

	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv2 := startServe(t, store, u.Host, admin)
	c2 := srv2.client(t, "")
	waitFor(t, "a login after the restart", func() bool { ok, _ := logins(t, c2, id); return ok > before })
	if app.exited() {
		t.Fatalf("the app exited:\n%s", app.errOut())
	}
	if _, failed := logins(t, c2, id); failed != 0 {
		t.Errorf("%d failed logins", failed)
	}
	if code := app.stop(t); code != 0 {
		t.Errorf("exit status %d on SIGTERM", code)
	}
}

// auditLogins counts the successful logins of account id in store, read
// with the audit command.
func auditLogins(t *testing.T, store, id string) int {
	t.Helper()
	out, err := exec.Command(bin, "audit", "--store", store, "--json").Output()
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		var e backend.AuditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if e.TargetID == id && e.Action == backend.ActionLoginSuccess {
			n++
		}
	}
	return n
}

// Over https, the app trusts the CA in APPHOST_CA_FILE.
func TestTLSWithCAFile(t *testing.T) {
	pki := backendtest.WritePKI(t)
	srv := startServe(t, backendtest.SQLiteStore(t), "127.0.0.1:0", newAdmin(), "--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile)
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Fatalf("serve URL %s", srv.URL)
	}
	c := srv.client(t, pki.CAFile)
	id, secret := account(t, c, "siem")
	app := startApp(t, appDir(t, id, secret, nil), srv.URL, "APPHOST_CA_FILE="+pki.CAFile)
	waitFor(t, "a login over https", func() bool { ok, _ := logins(t, c, id); return ok >= 1 })
	if code := app.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// Without its App Host's environment, the app says what is missing.
func TestNeedsItsEnvironment(t *testing.T) {
	app := start(t, []string{"PATH=" + os.Getenv("PATH")}, "example-app")
	if code := app.waitExit(t); code != 1 || !strings.Contains(app.errOut(), "APPHOST_APP_DIR is not set") {
		t.Errorf("exit %d, stderr %q", code, app.errOut())
	}
	dir := appDir(t, "id", "secret", map[string]string{"login_interval": "soon"})
	app = startApp(t, dir, "http://127.0.0.1:1")
	if code := app.waitExit(t); code != 1 || !strings.Contains(app.errOut(), `login_interval = "soon" is not a positive duration`) {
		t.Errorf("exit %d, stderr %q", code, app.errOut())
	}
}
