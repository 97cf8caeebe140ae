package provider

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// planAll runs terraform plan and returns its exit code and its stdout and
// stderr together (diagnostics go to stderr).
func (w *tfWorkdir) planAll(env []string) (int, string, time.Duration) {
	w.t.Helper()
	r := w.result(env, "plan", "-input=false")
	return r.Code, r.Output(), r.Took
}

// TestAccRemote_configureChecksServer (finding 4): terraform plan against a
// bad remote backend fails in Configure, with an error that names the
// endpoint and says what to do: a wrong secret is tried once per plan (one
// login.failure, never counted, so three CI plans lock nobody), a closed
// port is about the server (not "store unavailable") and fails fast, and a
// server older than API version 2 is refused as too old for one-operation
// rotation. The right credentials plan.
func TestAccRemote_configureChecksServer(t *testing.T) {
	requireAcc(t)
	store, keyFile := remoteStores[0].open(t)
	admin := newAdmin()
	r := startReplica(t, store, keyFile, admin)
	b := backendtest.NewClient(t, r.URL, admin)
	w := newTFWorkdir(t)
	w.write(`
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {}

resource "apphost_api_key_account" "k" {
  name = "configure-check"
}
`)

	// A wrong secret, three times; then this address is throttled at the
	// admin account, and a fourth plan says so.
	wrong := backendtest.Admin{ID: admin.ID, Secret: strings.Repeat("w", 43)}
	before := failures(t, b, admin.ID)
	for i := range 3 {
		code, out, _ := w.planAll(remoteEnvVars(r.URL, wrong))
		if code == 0 || !strings.Contains(out, r.URL) || !strings.Contains(out, "rejected the credentials") ||
			!strings.Contains(out, "recover-admin") {
			t.Fatalf("plan %d with a wrong secret: exit %d\n%s", i, code, out)
		}
	}
	if code, out, _ := w.planAll(remoteEnvVars(r.URL, wrong)); code == 0 || !strings.Contains(out, "refuses logins from this address") ||
		sayings(out, "too many failed logins") != 1 {
		t.Fatalf("plan past the throttle: exit %d, want an error that says \"too many failed logins\" once:\n%s", code, out)
	}
	// The store, read directly (this address is throttled at the admin).
	if got := failuresInStore(t, store, admin.ID) - before; got != 3 {
		t.Errorf("four plans with a wrong secret made %d failed logins, want 3 (one each, never retried; the fourth throttled unchecked)", got)
	}
	if out := runBinary(t, "accounts", "--store", store, "--json"); !strings.Contains(out, `"failed_login_attempts":0`) || strings.Contains(out, `"locked":true`) {
		t.Fatalf("the accounts after four bad plans: %s, want none locked and no failure counted", out)
	}

	// A closed port: a message about the server, quickly.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()
	code, out, took := w.planAll(remoteEnvVars(closed, admin))
	if code == 0 || !strings.Contains(out, "Cannot reach the apphost server") || !strings.Contains(out, closed) ||
		strings.Contains(out, "store is unavailable") || sayings(out, "could not be reached") != 1 ||
		!strings.Contains(out, "connection refused") {
		t.Fatalf("plan against a closed port: exit %d, want the error said once, with the refused connection as the original error:\n%s", code, out)
	}
	if took > 20*time.Second {
		t.Errorf("plan against a closed port took %s; the check is made once", took)
	}

	// Servers too old: no /v1/version (API version 1), or api_version 1.
	for name, h := range map[string]http.HandlerFunc{
		"no /v1/version": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such API path"}}`))
		},
		"api_version 1": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"version":"v0.9.0","api_version":1}`))
		},
	} {
		old := httptest.NewServer(h)
		code, out, _ := w.planAll(remoteEnvVars(old.URL, admin))
		old.Close()
		if code == 0 || !strings.Contains(out, "too old") || !strings.Contains(out, "one-operation rotation") ||
			!strings.Contains(out, "API version 2") || !strings.Contains(out, old.URL) {
			t.Fatalf("plan against a server with %s: exit %d\n%s", name, code, out)
		}
	}

	// The right credentials plan through another replica of the store (the
	// throttle is per server process, and this address is throttled on r).
	r2 := startReplica(t, store, keyFile, admin)
	if code, out, _ := w.planAll(remoteEnvVars(r2.URL, admin)); code != 0 || !strings.Contains(out, "1 to add") {
		t.Fatalf("plan with the right credentials: exit %d\n%s", code, out)
	}
}

// TestAccRemote_configureCheckTimesOut: an endpoint that accepts connections
// and never answers fails the plan after Configure's own short timeout (not
// the client's minutes-long one), and the error says so.
func TestAccRemote_configureCheckTimesOut(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read nor answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	endpoint := "http://" + ln.Addr().String()
	w := newTFWorkdir(t)
	w.write(`
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {}

resource "apphost_api_key_account" "k" {
  name = "hangs"
}
`)
	code, out, _ := w.planAll(remoteEnvVars(endpoint, newAdmin()))
	text := strings.Join(strings.Fields(out), " ")
	if code == 0 || !strings.Contains(text, endpoint) ||
		!strings.Contains(text, fmt.Sprintf("did not answer its version check within %s", checkTimeout)) {
		t.Fatalf("plan against an endpoint that never answers: exit %d, want an error that names the %s check timeout:\n%s",
			code, checkTimeout, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) == 0 {
		t.Fatal("the plan never connected to the endpoint: the test proves nothing")
	}
}

// sayings counts how often out says phrase, across Terraform's line wrapping.
func sayings(out, phrase string) int {
	return strings.Count(strings.Join(strings.Fields(out), " "), phrase)
}

// runBinary runs the built binary with args and returns its stdout.
func runBinary(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(providerBinary(t), args...)
	cmd.Env = cleanEnv()
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// failuresInStore counts account id's login.failure events in the store's
// audit log, read with the audit command (which needs no key file).
func failuresInStore(t *testing.T, store, id string) int {
	t.Helper()
	n := 0
	for line := range strings.Lines(runBinary(t, "audit", "--store", store, "--json")) {
		if strings.Contains(line, `"action":"login.failure"`) && strings.Contains(line, id) {
			n++
		}
	}
	return n
}

// failures counts the login.failure events of account id.
func failures(t *testing.T, b backend.Backend, id string) int {
	t.Helper()
	evs, err := b.ListAuditEvents(t.Context(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Action == backend.ActionLoginFailure && e.TargetID == id {
			n++
		}
	}
	return n
}
