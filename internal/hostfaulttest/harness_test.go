//go:build linux

package hostfaulttest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
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
	"github.com/apphost/terraform-provider-apphost/testutil/netns"
)

// TestMain removes the binary that tfcli builds for the tests: the
// provider, serve, host and example-app in one.
func TestMain(m *testing.M) { tfcli.Main(m) }

// Timing. The servers' --app-host-offline-after is short, so that a case
// with a host that stopped answering ends in seconds, yet three reports
// (one every 1.7 s) long, so that a host starved of CPU on a loaded
// machine (make test runs packages side by side) is not offline by
// mistake.
const (
	// waitTimeout bounds every wait for a state.
	waitTimeout  = 60 * time.Second
	offlineAfter = "5s"
	// The apps' timeouts: a stop is SIGTERM, and the example app exits at
	// once; a start is a process start and a login.
	appStopTimeout  = "5s"
	appStartTimeout = "30s"
	// secretName is the bound app secret of every app: secrets/api.
	secretName = "api"
)

// requireAcc skips t unless TF_ACC is set: these tests run terraform.
func requireAcc(t *testing.T) {
	t.Helper()
	if os.Getenv(tfcli.EnvAcc) == "" {
		t.Skip("TF_ACC is not set: the App Host fault tests drive the real Terraform CLI (make test sets TF_ACC=1)")
	}
}

// proc is a started process, its output in files.
type proc struct {
	cmd            *exec.Cmd
	name           string
	stdout, stderr string
	done           chan struct{}
}

// startProc starts cmd with its output in files of dir. When the test ends
// it is let go on (SIGCONT: it may be frozen) and stopped (SIGTERM, then
// SIGKILL), and its stderr is logged if the test failed.
func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{cmd: cmd, name: name, stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr"), done: make(chan struct{})}
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
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait()
		_ = so.Close()
		_ = se.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.done:
		case <-time.After(waitTimeout):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr (last lines):\n%s", name, tail(p.errOut(), 30))
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

// signal sends sig to the process and, for SIGKILL, waits until it is gone.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s to %s: %v", sig, p.name, err)
	}
	if sig == syscall.SIGKILL {
		p.wait(t)
	}
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not exit; stderr:\n%s", p.name, tail(p.errOut(), 30))
		return -1
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// world is one test's backend: its servers (replicas of one store), App
// Hosts and apps, and the admin credentials that reach them.
type world struct {
	t     *testing.T
	bin   string // the built binary
	dir   string // the test's directory: host directories, gates
	admin backendtest.Admin
	// store and keyFile are the servers' store and sealing key.
	store, keyFile string
	// caFile is the CA of the servers' certificate, certFile and tlsKey
	// the certificate and its key ("" for plain http on loopback).
	caFile, certFile, tlsKey string
	servers                  []*server
	hostAccountIDs           map[string]string
	secretFiles              map[string]string
}

// worldOptions shape a world.
type worldOptions struct {
	// postgres runs the servers on a fresh PostgreSQL schema (the test
	// skips without APPHOST_TEST_POSTGRES_DSN, unless
	// APPHOST_REQUIRE_POSTGRES=1); else a SQLite file.
	postgres bool
	// tlsAddrs are the addresses other than 127.0.0.1 that the servers'
	// certificate is for; with any, the servers serve HTTPS.
	tlsAddrs []netip.Addr
}

// newWorld makes a world with no server yet. Whatever app processes a
// failed test leaves (a host killed and never restarted) are killed when
// the test ends.
func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	requireAcc(t)
	w := &world{
		t: t, dir: t.TempDir(),
		admin:          backendtest.Admin{ID: uuid.NewString(), Secret: strings.TrimRight(rand.Text()+rand.Text(), "=")[:43]},
		hostAccountIDs: map[string]string{},
		secretFiles:    map[string]string{},
	}
	if o.postgres {
		w.store = backendtest.PostgresStore(t) // skips without one
	} else {
		w.store = backendtest.SQLiteStore(t)
	}
	w.bin = tfcli.ProviderBinary(t)
	w.keyFile = filepath.Join(t.TempDir(), "apphost.key")
	if len(o.tlsAddrs) > 0 {
		var ips []net.IP
		for _, a := range o.tlsAddrs {
			ips = append(ips, net.IP(a.AsSlice()))
		}
		pki := backendtest.WritePKI(t, ips...)
		w.caFile, w.certFile, w.tlsKey = pki.CAFile, pki.CertFile, pki.KeyFile
	}
	t.Cleanup(func() { killLeftovers(t, w.dir) })
	return w
}

// server is a serve process.
type server struct {
	*proc
	w    *world
	URL  string
	args []string // serve's arguments but --listen
	c    *client.Client
}

// serve starts a server on the world's store, listening on addr (port 0
// picks one), and waits until it listens.
func (w *world) serve(addr netip.Addr, extra ...string) *server {
	w.t.Helper()
	args := []string{"--store", w.store, "--key-file", w.keyFile, "--app-host-offline-after", offlineAfter}
	if w.certFile != "" {
		args = append(args, "--tls-cert", w.certFile, "--tls-key", w.tlsKey)
	}
	s := &server{w: w, args: append(args, extra...)}
	s.start(net.JoinHostPort(addr.String(), "0"))
	w.servers = append(w.servers, s)
	return s
}

func (s *server) start(listen string) {
	t := s.w.t
	t.Helper()
	cmd := exec.Command(s.w.bin, append([]string{"serve", "--listen", listen}, s.args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = tfcli.CleanEnv("APPHOST_ADMIN_KEY_ID="+s.w.admin.ID, "APPHOST_ADMIN_KEY_SECRET="+s.w.admin.Secret)
	s.proc = startProc(t, "serve", cmd)
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
	if s.c == nil {
		c, err := client.New(client.Config{Endpoint: s.URL, APIKeyID: s.w.admin.ID, APIKeySecret: s.w.admin.Secret,
			CAFile: s.w.caFile, RetryWaitMin: 20 * time.Millisecond, RetryWaitMax: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		s.c = c
	}
}

// restart stops the server with sig (SIGTERM: a restart; SIGKILL: a crash)
// and starts it again on the same address, and returns how long it was
// down.
func (s *server) restart(sig syscall.Signal) time.Duration {
	t := s.w.t
	t.Helper()
	from := time.Now()
	s.signal(t, sig)
	s.wait(t)
	hostPort := strings.TrimPrefix(strings.TrimPrefix(s.URL, "https://"), "http://")
	s.start(hostPort)
	return time.Since(from)
}

// hostAccount makes the App Host account of name once, and writes its
// secret to a file (0600).
func (w *world) hostAccount(name string) (string, string) {
	w.t.Helper()
	if id, ok := w.hostAccountIDs[name]; ok {
		return id, w.secretFiles[name]
	}
	a, err := w.servers[0].c.CreateAccount(w.t.Context(), backend.CreateAccountRequest{Name: "host-" + name, AppHost: name})
	if err != nil {
		w.t.Fatal(err)
	}
	f := filepath.Join(w.t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(a.Secret+"\n"), 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.hostAccountIDs[name], w.secretFiles[name] = a.ID, f
	return a.ID, f
}

// host is an App Host process.
type host struct {
	*proc
	name, dir string
	ns        *netns.NS // nil: the root namespace
	endpoints []string
}

// startHost starts the App Host name (the exec driver) in DIR
// w.dir/host-NAME, inside ns unless it is nil, on the given servers' URLs
// (every server's when none), and returns it. A host of that name that ran
// before is replaced (it must be gone).
func (w *world) startHost(name string, ns *netns.NS, endpoints ...string) *host {
	w.t.Helper()
	if len(endpoints) == 0 {
		for _, s := range w.servers {
			endpoints = append(endpoints, s.URL)
		}
	}
	id, secretFile := w.hostAccount(name)
	args := []string{"host", "--name", name, "--endpoint", strings.Join(endpoints, ","), "--secret-file", secretFile,
		"--dir", filepath.Join(w.dir, "host-"+name), "--driver", "exec"}
	if w.caFile != "" {
		args = append(args, "--ca-file", w.caFile)
	}
	var cmd *exec.Cmd
	if ns != nil {
		cmd = ns.Command(context.Background(), w.bin, args...)
	} else {
		cmd = exec.Command(w.bin, args...)
	}
	cmd.Dir = w.t.TempDir()
	cmd.Env = tfcli.CleanEnv("APPHOST_API_KEY_ID=" + id)
	h := &host{proc: startProc(w.t, "host "+name, cmd), name: name, dir: filepath.Join(w.dir, "host-"+name), ns: ns, endpoints: endpoints}
	return h
}

// restart starts the host again, as it was started.
func (h *host) restart(w *world) *host {
	w.t.Helper()
	return w.startHost(h.name, h.ns, h.endpoints...)
}

// app is an app of the Terraform configuration (apphost_app): it runs
// command on App Host Host, waits for its secret "api" (secret_names),
// which an apphost_app_secret binds to a key, and logs in every second.
type app struct {
	Name, Host string
	command    []string
	version    string
	dir        string // its directory on its App Host
	// stopTimeout is its stop_timeout (appStopTimeout when empty).
	stopTimeout string
	// procs is how many processes it runs as (1 when 0): a wrapper that
	// does not exec the example app runs as two.
	procs int
	// reloadSignal is its reload_signal ("": none; an overlap rotation
	// restarts it).
	reloadSignal string
}

// app declares app name on App Host host, running command.
func (w *world) app(host, name string, command []string) *app {
	return &app{Name: name, Host: host, command: command, dir: filepath.Join(w.dir, "host-"+host, "apps", name)}
}

// exampleApp is the command of the example app.
func (w *world) exampleApp() []string { return []string{w.bin, "example-app"} }

// gatedApp is the example app behind a gate: its process waits until the
// file gate exists, then becomes the example app (exec: one process). So a
// test holds a start, and the rotation that waits for it, where it wants.
func (w *world) gatedApp(gate string) []string {
	return []string{"/bin/sh", "-c", `while [ ! -e "$1" ]; do sleep 0.05; done; exec "$2" example-app`, "gated-app", gate, w.bin}
}

// brokenApp is the example app with a bug: it remembers (a hash in the
// file mark) the secret of its first start, and exits 3 at once, saying so
// on stderr, when its secret is another: it cannot start with a rotated
// secret.
func (w *world) brokenApp(mark string) []string {
	return []string{"/bin/sh", "-c", `s=$(sha256sum < "$APPHOST_APP_DIR/secrets/api") || exit 1
[ -e "$1" ] || echo "$s" > "$1"
if [ "$s" != "$(cat "$1")" ]; then echo "broken-app: cannot start: the secret changed since the first start" >&2; exit 3; fi
exec "$2" example-app`, "broken-app", mark, w.bin}
}

// slowStopApp is the example app under a shell that, asked to stop
// (SIGTERM to the process group, which ends the example app at once),
// touches the file stopping and does not exit before the file release
// exists: a stop that takes until its stop_timeout's SIGKILL. It runs as
// two processes (the shell and the example app).
func (w *world) slowStopApp(stopping, release string) []string {
	return []string{"/bin/sh", "-c", `trap 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done; exit 0' TERM
"$3" example-app &
wait $!`, "slow-stop-app", stopping, release, w.bin}
}

// openGate lets the gated apps whose gate is path go on.
func openGate(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// closeGate holds the next starts of the gated apps whose gate is path.
func closeGate(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, and fails t after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(wait) // polling a state with a deadline
	}
}

// appProcs are the live processes of the app whose directory is dir (by
// the APPHOST_APP_DIR of their environment), whoever started them.
func appProcs(t *testing.T, dir string) []int {
	t.Helper()
	return procsWithEnv(t, func(v string) bool { return v == dir })
}

// procsWithEnv lists the live processes whose APPHOST_APP_DIR match
// accepts.
func procsWithEnv(t testing.TB, match func(string) bool) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		found := false
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("APPHOST_APP_DIR=")); ok && match(string(v)) {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		if st := procState(pid); st == 'Z' || st == 0 {
			continue // gone, or a zombie not yet reaped
		}
		out = append(out, pid)
	}
	return out
}

// procState is the state letter of process pid in /proc (T: stopped), 0
// when it is gone.
func procState(pid int) byte {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 {
		return stat[i+2]
	}
	return 0
}

// killLeftovers kills the app processes under dir that outlived their
// App Hosts (a test that failed between a host's SIGKILL and its restart).
func killLeftovers(t testing.TB, dir string) {
	pids := procsWithEnv(t, func(v string) bool { return strings.HasPrefix(v, dir+string(filepath.Separator)) })
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(pids) > 0 {
		t.Logf("killed %d app processes left behind: %v", len(pids), pids)
	}
}

// getApp reads app a through server s.
func (s *server) getApp(a *app) *backend.App {
	t := s.w.t
	t.Helper()
	got, err := s.c.GetAppByName(context.Background(), a.Name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func running(a *backend.App) bool {
	return a.Status == backend.StatusRunning && a.Process != nil && a.Process.PID != 0
}

// waitRunning waits until each app is running as the one process in its
// directory (or as many as it runs as, its reported PID among them), and
// returns their PIDs by name.
func (s *server) waitRunning(apps ...*app) map[string]int {
	t := s.w.t
	t.Helper()
	pids := map[string]int{}
	for _, a := range apps {
		ok, seen := false, "" // what the last look saw, for the failure message
		defer func() {
			if !ok && seen != "" {
				t.Logf("app %s as last seen: %s", a.Name, seen)
			}
		}()
		waitFor(t, "app "+a.Name+" to run as its one process", func() bool {
			got := s.getApp(a)
			procs := appProcs(t, a.dir)
			seen = fmt.Sprintf("status %s (%s), processes %v", got.Status, got.StatusDetail, procs)
			if !running(got) {
				return false
			}
			if len(procs) == max(a.procs, 1) && slices.Contains(procs, got.Process.PID) {
				pids[a.Name], ok = got.Process.PID, true
				return true
			}
			return false
		})
	}
	return pids
}

// requireRunningAs checks that every app runs, as one process, and as the
// PID pids holds for it when same is true, or another when it is false.
func (s *server) requireRunningAs(pids map[string]int, same bool, apps ...*app) map[string]int {
	t := s.w.t
	t.Helper()
	now := s.waitRunning(apps...)
	for _, a := range apps {
		if (now[a.Name] == pids[a.Name]) != same {
			if same {
				t.Errorf("app %s runs as PID %d, not %d as before: it was restarted", a.Name, now[a.Name], pids[a.Name])
			} else {
				t.Errorf("app %s still runs as PID %d: it was not restarted", a.Name, pids[a.Name])
			}
		}
	}
	return now
}

// events is the audit log through server s.
func (s *server) events() []backend.AuditEvent {
	t := s.w.t
	t.Helper()
	ev, err := s.c.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// failedLogins are the login.failure events but those of the apps allowed.
func failedLogins(ev []backend.AuditEvent, allowed ...string) []backend.AuditEvent {
	var out []backend.AuditEvent
	for _, e := range ev {
		if e.Action == backend.ActionLoginFailure && !slices.Contains(allowed, e.Actor) {
			out = append(out, e)
		}
	}
	return out
}

// count counts the events of action on target.
func count(ev []backend.AuditEvent, action, targetID string) int {
	n := 0
	for _, e := range ev {
		if e.Action == action && e.TargetID == targetID {
			n++
		}
	}
	return n
}

// provenLogins counts the successful logins as account keyID that app made
// as itself with secret_version version.
func provenLogins(ev []backend.AuditEvent, keyID, app string, version int64) int {
	n := 0
	for _, e := range ev {
		if e.Action == backend.ActionLoginSuccess && e.TargetID == keyID && e.Actor == app &&
			strings.Contains(e.Detail, fmt.Sprintf("secret_version=%d", version)) {
			n++
		}
	}
	return n
}

// loginsSince counts app's successful logins after since, with
// secret_version version (any when 0).
func loginsSince(ev []backend.AuditEvent, app string, version int64, since time.Time) int {
	n := 0
	for _, e := range ev {
		if e.Action == backend.ActionLoginSuccess && e.Actor == app && e.Time.After(since) &&
			(version == 0 || strings.Contains(e.Detail, fmt.Sprintf("secret_version=%d", version))) {
			n++
		}
	}
	return n
}

// rotations are the rotations of account keyID, newest first.
func (s *server) rotations(keyID string) []backend.Rotation {
	t := s.w.t
	t.Helper()
	rs, err := s.c.ListRotations(context.Background(), backend.ListRotationsRequest{AccountID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// account reads account id through server s.
func (s *server) account(id string) *backend.Account {
	t := s.w.t
	t.Helper()
	a, err := s.c.GetAccount(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// logDowntime logs each app's downtime in rotation r, from its steps.
func logDowntime(t *testing.T, what string, r backend.Rotation) {
	t.Helper()
	var parts []string
	for _, st := range r.Steps {
		if st.DowntimeMS != nil && st.StartedAt != nil {
			// Split at the start: the stop, its confirmation and the
			// regeneration before it; the app's start and login after.
			parts = append(parts, fmt.Sprintf("%s on %s %.1f ms (%.1f to its start, %.1f from its start to its login)",
				st.AppName, st.AppHost, *st.DowntimeMS, ms(st.StartedAt.Sub(*st.StoppedAt)), ms(st.RunningAt.Sub(*st.StartedAt))))
		} else {
			parts = append(parts, fmt.Sprintf("%s on %s: %s %s", st.AppName, st.AppHost, st.Phase, st.Detail))
		}
	}
	t.Logf("%s: rotation %s %s (secret_version %d -> %d); downtime per app (stop to first login with the new secret): %s",
		what, r.ID, r.Outcome, r.FromVersion, r.ToVersion, strings.Join(parts, "; "))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tfDir is a Terraform working directory whose provider reaches a server
// with the world's admin credentials (in the environment, not the
// configuration).
type tfDir struct {
	*tfcli.Workdir
	t *testing.T
	w *world
}

func (w *world) terraform() *tfDir {
	w.t.Helper()
	wd := tfcli.New(w.t, filepath.Join(w.t.TempDir(), "tf"))
	wd = wd.WithEnv("APPHOST_API_KEY_ID="+w.admin.ID, "APPHOST_API_KEY_SECRET="+w.admin.Secret)
	return &tfDir{Workdir: wd, t: w.t, w: w}
}

// key is an API key account of the configuration and the apps whose secret
// "api" is bound to it.
type key struct {
	label, trigger string
	// strategy is its rotation_strategy ("": the default, stop_first).
	strategy string
	apps     []*app
}

// write writes the configuration: the provider on endpoint, each key with
// expose_secret = false (no secret passes through Terraform) and its
// rotation trigger, its apps, and a bound app secret with no value per app.
func (d *tfDir) write(endpoint string, keys ...key) {
	d.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {
  endpoint = %q
`, endpoint)
	if d.w.caFile != "" {
		fmt.Fprintf(&b, "  ca_file  = %q\n", d.w.caFile)
	}
	b.WriteString("}\n")
	for _, k := range keys {
		fmt.Fprintf(&b, `
resource "apphost_api_key_account" %[1]q {
  name              = %[1]q
  rotation_triggers = { r = %[2]q }
  expose_secret     = false
`, k.label, k.trigger)
		if k.strategy != "" {
			fmt.Fprintf(&b, "  rotation_strategy = %q\n", k.strategy)
		}
		b.WriteString("}\n")
		for _, a := range k.apps {
			command, err := json.Marshal(a.command)
			if err != nil {
				d.t.Fatal(err)
			}
			reload := ""
			if a.reloadSignal != "" {
				reload = fmt.Sprintf("  reload_signal = %q\n", a.reloadSignal)
			}
			fmt.Fprintf(&b, `
resource "apphost_app" %[1]q {
  name          = %[1]q
  app_host      = %[2]q
  version       = %[3]q
  command       = %[4]s
  secret_names  = [%[5]q]
  config        = { login_interval = "1s" }
  stop_timeout  = %[6]q
  start_timeout = %[7]q
%[9]s}

resource "apphost_app_secret" %[1]q {
  app_id             = apphost_app.%[1]s.id
  name               = %[5]q
  api_key_account_id = apphost_api_key_account.%[8]s.id
}
`, a.Name, a.Host, a.version, command, secretName, cmp.Or(a.stopTimeout, appStopTimeout), appStartTimeout, k.label, reload)
		}
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "main.tf"), []byte(b.String()), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// run runs terraform and logs its summary.
func (d *tfDir) run(args ...string) tfcli.Result {
	d.t.Helper()
	return d.RunT(d.t, args...)
}

// apply applies; the exit code is the caller's to judge.
func (d *tfDir) apply() tfcli.Result {
	d.t.Helper()
	return d.run("apply", "-auto-approve", "-input=false")
}

// mustApply applies and fails t unless it succeeded.
func (d *tfDir) mustApply() tfcli.Result {
	d.t.Helper()
	r := d.apply()
	if r.Code != 0 {
		d.t.Fatalf("%s", r)
	}
	return r
}

// flat is terraform's output without its diagnostics' frames and line
// breaks: one space between words, as it was before Terraform wrapped it.
func flat(out string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("│", " ", "╷", " ", "╵", " ").Replace(out)), " ")
}

// requireEmptyPlan fails t unless `terraform plan -detailed-exitcode` exits 0.
func (d *tfDir) requireEmptyPlan() {
	d.t.Helper()
	if r := d.run("plan", "-detailed-exitcode", "-input=false"); r.Code != 0 {
		d.t.Errorf("the plan is not empty: %s", r)
	}
}

// keyState is an API key account as the state holds it.
type keyState struct {
	ID      string
	Version int64
}

// key reads key label from the state file.
func (d *tfDir) key(label string) keyState {
	d.t.Helper()
	raw, err := os.ReadFile(filepath.Join(d.Dir, "terraform.tfstate"))
	if err != nil {
		d.t.Fatalf("reading the state: %v", err)
	}
	var st struct {
		Resources []struct {
			Mode, Type, Name string
			Instances        []struct {
				Attributes struct {
					ID            string `json:"id"`
					SecretVersion int64  `json:"secret_version"`
				} `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		d.t.Fatalf("decoding the state: %v", err)
	}
	for _, r := range st.Resources {
		if r.Mode == "managed" && r.Type == "apphost_api_key_account" && r.Name == label && len(r.Instances) == 1 {
			a := r.Instances[0].Attributes
			return keyState{ID: a.ID, Version: a.SecretVersion}
		}
	}
	d.t.Fatalf("key %s is not in the state", label)
	return keyState{}
}

// requireEnd checks what every case ends with, through server s: the key
// of the configuration at secret_version version in the store and in
// state, regenerated regens times in all, unlocked; every app running as
// one process; no failed login but those of the apps allowed; and an
// empty plan.
func (d *tfDir) requireEnd(s *server, k key, version int64, regens int, allowed ...string) {
	d.t.Helper()
	t := d.t
	ks := d.key(k.label)
	acct := s.account(ks.ID)
	if acct.SecretVersion != version || ks.Version != version {
		t.Errorf("key %s: secret_version %d in the store and %d in state, want %d", k.label, acct.SecretVersion, ks.Version, version)
	}
	if acct.Locked || acct.FailedLoginAttempts != 0 {
		t.Errorf("key %s: locked=%v failed_login_attempts=%d", k.label, acct.Locked, acct.FailedLoginAttempts)
	}
	s.waitRunning(k.apps...)
	ev := s.events()
	if n := count(ev, backend.ActionAccountRegenerate, ks.ID); n != regens {
		t.Errorf("key %s was regenerated %d times, want %d", k.label, n, regens)
	}
	for _, a := range k.apps {
		if slices.Contains(allowed, a.Name) {
			continue
		}
		if provenLogins(ev, ks.ID, a.Name, version) == 0 {
			t.Errorf("app %s made no login as itself with secret_version %d", a.Name, version)
		}
	}
	if f := failedLogins(ev, allowed...); len(f) > 0 {
		t.Errorf("failed logins: %+v", f)
	}
	d.requireEmptyPlan()
}

// waitHostReport waits until App Host name is online, with a report after
// since, as server s sees it.
func (s *server) waitHostReport(name string, since time.Time) {
	t := s.w.t
	t.Helper()
	waitFor(t, "App Host "+name+" to report", func() bool {
		hosts, err := s.c.ListAppHosts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(hosts, func(h backend.AppHost) bool { return h.Name == name })
		return i >= 0 && hosts[i].State == backend.AppHostOnline && hosts[i].LastReport != nil && hosts[i].LastReport.After(since)
	})
}

// waitRotation waits until account keyID has a rotation that ok accepts,
// and returns it.
func (s *server) waitRotation(keyID, what string, ok func(backend.Rotation) bool) backend.Rotation {
	t := s.w.t
	t.Helper()
	var found backend.Rotation
	waitFor(t, "a rotation "+what, func() bool {
		for _, r := range s.rotations(keyID) {
			if ok(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// childrenRunning lists the children of process parent that run bin: the
// provider plugins that terraform started.
func childrenRunning(parent int, bin string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != bin {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:])) // state ppid ...
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			out = append(out, pid)
		}
	}
	return out
}
