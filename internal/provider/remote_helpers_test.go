package provider

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// The remote acceptance tests run the provider in-process against real
// `terraform-provider-apphost serve` processes on loopback, built once per
// test binary from the module root.

func TestMain(m *testing.M) { tfcli.Main(m) }

// providerBinary is the binary of the provider and its serve command, built
// once per test binary.
var providerBinary = tfcli.ProviderBinary

// requireAcc skips t unless TF_ACC is set, before any server is started
// (resource.Test would skip only later).
func requireAcc(t *testing.T) {
	t.Helper()
	if os.Getenv(resource.EnvTfAcc) == "" {
		t.Skipf("acceptance test against a server process: set %s=1 to run it", resource.EnvTfAcc)
	}
}

// remoteStore is a kind of store the server processes run on.
type remoteStore struct {
	name string
	// open returns a fresh store and its key file ("" for the default).
	open func(t *testing.T) (store, keyFile string)
}

var remoteStores = []remoteStore{
	{"SQLite", func(t *testing.T) (string, string) { return backendtest.SQLiteStore(t), "" }},
	{"Postgres", func(t *testing.T) (string, string) {
		// Skips unless APPHOST_TEST_POSTGRES_DSN is set (fails when
		// APPHOST_REQUIRE_POSTGRES=1).
		return backendtest.PostgresStore(t), filepath.Join(t.TempDir(), "apphost.key")
	}},
}

// newAdmin returns fresh admin credentials for a server's bootstrap.
func newAdmin() backendtest.Admin {
	return backendtest.Admin{ID: uuid.NewString(), Secret: rand.Text() + rand.Text()}
}

// cleanEnv is the environment without APPHOST_* and TF_* variables, so a
// developer's settings reach neither the servers nor terraform.
var cleanEnv = tfcli.CleanEnv

// replica is one `serve` process.
type replica struct {
	URL     string
	logPath string // its stderr: JSON log lines
	cmd     *exec.Cmd
	done    chan struct{}
}

// startReplica starts `serve` on store (creating the admin account from
// admin on an empty store), waits until /healthz answers, and stops it when
// t ends.
func startReplica(t *testing.T, store, keyFile string, admin backendtest.Admin) *replica {
	t.Helper()
	bin := providerBinary(t)
	dir := t.TempDir()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--store", store}
	if keyFile != "" {
		args = append(args, "--key-file", keyFile)
	}
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdout.Close() }()
	r := &replica{logPath: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	stderr, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stderr.Close() }()

	r.cmd = exec.Command(bin, args...)
	r.cmd.Dir = dir
	r.cmd.Env = append(cleanEnv(), "APPHOST_ADMIN_KEY_ID="+admin.ID, "APPHOST_ADMIN_KEY_SECRET="+admin.Secret)
	r.cmd.Stdout, r.cmd.Stderr = stdout, stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting serve: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		r.stop(t)
		// A 5xx or a panic is a bug even when the client's retries hid it.
		for line := range strings.Lines(r.log()) {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("serve at %s logged an error: %s", r.URL, strings.TrimSpace(line))
			}
		}
	})

	// serve prints "listening on http://ADDR" once the port is taken.
	deadline := time.Now().Add(30 * time.Second)
	for r.URL == "" {
		out, _ := os.ReadFile(stdout.Name())
		for line := range strings.Lines(string(out)) {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
				r.URL = u
			}
		}
		if r.URL != "" {
			break
		}
		select {
		case <-r.done:
			t.Fatalf("serve exited before listening:\n%s", r.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not print its address in 30s:\n%s", r.log())
		}
	}
	for {
		resp, err := http.Get(r.URL + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/healthz did not answer 200 in 30s (%v):\n%s", r.URL, err, r.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM (graceful shutdown), then SIGKILL.
func (r *replica) stop(t *testing.T) {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Logf("serve at %s ignored SIGTERM for 10s: killing it", r.URL)
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func (r *replica) log() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

// logSize marks the current end of the log, for requestsSince.
func (r *replica) logSize() int {
	return len(r.log())
}

// requestsSince returns the requests the server logged after the mark, as
// "METHOD PATH", health checks left out.
func (r *replica) requestsSince(mark int) []string {
	log := r.log()
	if mark > len(log) {
		mark = len(log)
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log[mark:]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Method string `json:"method"`
			Path   string `json:"path"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "request" || line.Path == "/healthz" {
			continue
		}
		out = append(out, line.Method+" "+line.Path)
	}
	return out
}

// remoteEnv is an accEnv whose backend is the HTTP client of a server
// process: the audit checks of the embedded tests read GET /v1/audit.
type remoteEnv struct {
	*accEnv
	replica *replica
	admin   backendtest.Admin
}

// newRemoteEnv starts one server on a fresh store of kind st.
func newRemoteEnv(t *testing.T, st remoteStore) *remoteEnv {
	t.Helper()
	store, keyFile := st.open(t)
	admin := newAdmin()
	r := startReplica(t, store, keyFile, admin)
	return &remoteEnv{
		accEnv:  &accEnv{t: t, b: backendtest.NewClient(t, r.URL, admin)},
		replica: r,
		admin:   admin,
	}
}

// provider is the provider block of the remote backend.
func (e *remoteEnv) provider() string {
	return fmt.Sprintf(`
provider "apphost" {
  endpoint       = %[1]q
  api_key_id     = %[2]q
  api_key_secret = %[3]q
}
`, e.replica.URL, e.admin.ID, e.admin.Secret)
}

// tfWorkdir is a Terraform working directory whose CLI configuration
// points apphost/apphost at the built binary (dev_overrides: no init).
type tfWorkdir struct {
	t   *testing.T
	w   *tfcli.Workdir
	dir string // w.Dir
}

func newTFWorkdir(t *testing.T) *tfWorkdir {
	t.Helper()
	w := tfcli.New(t, "")
	w.Timeout = 5 * time.Minute
	return &tfWorkdir{t: t, w: w, dir: w.Dir}
}

// write replaces the configuration.
func (w *tfWorkdir) write(config string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(config), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// run runs terraform with args and extra environment and returns its stdout
// and exit code; it fails t when terraform could not run or exits with a
// code not in ok (default: 0).
func (w *tfWorkdir) run(env []string, args []string, ok ...int) (string, int) {
	w.t.Helper()
	if len(ok) == 0 {
		ok = []int{0}
	}
	r := w.result(env, args...)
	if !slices.Contains(ok, r.Code) {
		w.t.Fatalf("%s", r)
	}
	return r.Stdout, r.Code
}

// result runs terraform with args and extra environment, whatever its exit code.
func (w *tfWorkdir) result(env []string, args ...string) tfcli.Result {
	w.t.Helper()
	return w.w.WithEnv(env...).RunT(w.t, args...)
}

// remoteEnvVars points the provider at the server at url through the
// environment only, as a saved plan does not record it then.
func remoteEnvVars(url string, admin backendtest.Admin) []string {
	return []string{"APPHOST_ENDPOINT=" + url, "APPHOST_API_KEY_ID=" + admin.ID, "APPHOST_API_KEY_SECRET=" + admin.Secret}
}
