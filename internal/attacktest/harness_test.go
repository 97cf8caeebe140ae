package attacktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

var bin string // the built binary

func TestMain(m *testing.M) {
	tfcli.MainWithBinary(m, &bin)
}

// stores are the kinds of store a test runs on.
var stores = []struct {
	name string
	open func(t *testing.T) string
}{
	{"SQLite", func(t *testing.T) string { return backendtest.SQLiteStore(t) }},
	{"Postgres", func(t *testing.T) string { return backendtest.PostgresStore(t) }},
}

// newAdmin returns admin credentials with a 43-character secret.
func newAdmin() backendtest.Admin {
	return backendtest.Admin{ID: uuid.NewString(), Secret: strings.TrimRight(rand.Text()+rand.Text(), "=")[:43]}
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the binary in dir (a new temporary directory when "") and waits.
func run(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = tfcli.CleanEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// server is one serve process.
type server struct {
	URL    string
	dir    string
	stdout string
	errLog string
	cmd    *exec.Cmd
	done   chan struct{}
	code   int
}

func (s *server) log() string {
	b, _ := os.ReadFile(s.errLog)
	return string(b)
}

func (s *server) out() string {
	b, _ := os.ReadFile(s.stdout)
	return string(b)
}

// startServe starts serve in dir ("" for a new one) and waits until it
// listens, or returns it exited (URL "") when it does not start.
func startServe(t *testing.T, dir string, env []string, args ...string) *server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s := &server{dir: dir, stdout: filepath.Join(t.TempDir(), "stdout"), errLog: filepath.Join(t.TempDir(), "stderr"), done: make(chan struct{})}
	so, err := os.Create(s.stdout)
	if err != nil {
		t.Fatal(err)
	}
	se, err := os.Create(s.errLog)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Dir = dir
	s.cmd.Env = tfcli.CleanEnv(env...)
	s.cmd.Stdout, s.cmd.Stderr = so, se
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		_ = so.Close()
		_ = se.Close()
		close(s.done)
	}()
	t.Cleanup(func() { s.stop() })
	deadline := time.After(30 * time.Second)
	for {
		for line := range strings.Lines(s.out()) {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
				s.URL = u
				return s
			}
		}
		select {
		case <-s.done:
			return s
		case <-deadline:
			t.Fatalf("serve did not start in 30s:\n%s", s.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exited waits (boundedly) for a serve that should not start to exit, and
// fails t when it runs on.
func (s *server) exited(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.stop()
		t.Fatalf("serve started (%s) and ran on, where it should have refused to start:\n%s", s.URL, s.log())
	}
}

func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// adminEnv is the bootstrap environment of admin.
func adminEnv(a backendtest.Admin) []string {
	return []string{"APPHOST_ADMIN_KEY_ID=" + a.ID, "APPHOST_ADMIN_KEY_SECRET=" + a.Secret}
}

// from is an HTTP client whose connections come from the loopback address
// ip (127.0.0.0/8 is all local on Linux), one per client address.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// call makes one request and returns the status and the body.
func call(t *testing.T, c *http.Client, method, url string, admin *backendtest.Admin, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if admin != nil {
		req.SetBasicAuth(admin.ID, admin.Secret)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// errorCode is the code of a JSON error body, "" when it is not one.
func errorCode(body string) string {
	var e struct {
		Error *backend.Error `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error == nil {
		return ""
	}
	return e.Error.Code
}

func loginBody(id, secret string) string {
	b, _ := json.Marshal(backend.LoginRequest{AccountID: id, Secret: secret})
	return string(b)
}

// accountRow is one line of accounts --json.
type accountRow struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	Locked              bool   `json:"locked"`
	FailedLoginAttempts int64  `json:"failed_login_attempts"`
	SecretVersion       int64  `json:"secret_version"`
}

// accounts reads the inventory with the accounts command (no key file).
func accounts(t *testing.T, store string) map[string]accountRow {
	t.Helper()
	r := run(t, "", nil, "", "accounts", "--store", store, "--json")
	if r.code != 0 {
		t.Fatalf("accounts: exit %d: %s", r.code, r.stderr)
	}
	out := map[string]accountRow{}
	for line := range strings.Lines(r.stdout) {
		var a accountRow
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("accounts line %q: %v", line, err)
		}
		out[a.ID] = a
	}
	return out
}

// auditEvent is one line of audit --json.
type auditEvent struct {
	Actor    string `json:"actor"`
	Action   string `json:"action"`
	TargetID string `json:"target_id"`
	Detail   string `json:"detail"`
}

func audit(t *testing.T, store string) []auditEvent {
	t.Helper()
	r := run(t, "", nil, "", "audit", "--store", store, "--json")
	if r.code != 0 {
		t.Fatalf("audit: exit %d: %s", r.code, r.stderr)
	}
	var out []auditEvent
	for line := range strings.Lines(r.stdout) {
		var e auditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func count(evs []auditEvent, action, target string) int {
	n := 0
	for _, e := range evs {
		if e.Action == action && e.TargetID == target {
			n++
		}
	}
	return n
}
