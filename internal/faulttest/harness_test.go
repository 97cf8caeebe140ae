package faulttest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the driver of the integrity checks

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// TestMain removes the provider binary that tfcli builds for the tests.
func TestMain(m *testing.M) { tfcli.Main(m) }

// requireAcc skips t unless TF_ACC is set: these tests run terraform.
func requireAcc(t *testing.T) {
	t.Helper()
	if os.Getenv(tfcli.EnvAcc) == "" {
		t.Skip("TF_ACC is not set: the fault tests drive the real Terraform CLI (make test sets TF_ACC=1)")
	}
}

// providerBinary is the provider built once for every test of the package.
var providerBinary = tfcli.ProviderBinary

// tfDir is one Terraform working directory driven through the CLI with a
// private CLI configuration whose dev_overrides point at the built provider.
type tfDir struct {
	*tfcli.Workdir
	t   *testing.T
	bin string // the provider binary
}

// newTFDir makes a working directory dir (created when missing).
func newTFDir(t *testing.T, dir string) *tfDir {
	t.Helper()
	return &tfDir{Workdir: tfcli.New(t, dir), t: t, bin: providerBinary(t)}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// with returns w reporting to t (a subtest).
func (w *tfDir) with(t *testing.T) *tfDir {
	c := *w
	c.t = t
	return &c
}

// write replaces the configuration.
func (w *tfDir) write(config string) { writeFile(w.t, filepath.Join(w.Dir, "main.tf"), config) }

// tfRun is a started terraform command.
type tfRun struct{ *tfcli.Running }

// start starts terraform; the command is killed when the test ends.
func (w *tfDir) start(args ...string) tfRun {
	w.t.Helper()
	r, err := w.Start(w.t.Context(), args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return tfRun{r}
}

// wait waits for the command; a command that did not run to its end has
// exit code -1 and the reason at the end of its stderr.
func (r tfRun) wait() tfcli.Result {
	res, err := r.Wait()
	if err != nil {
		res.Stderr += "\n" + err.Error()
	}
	return res
}

func (w *tfDir) run(args ...string) tfcli.Result {
	w.t.Helper()
	r := w.start(args...).wait()
	w.t.Log(r.Summary())
	return r
}

func (w *tfDir) startApply(extra ...string) tfRun {
	return w.start(append([]string{"apply", "-auto-approve", "-input=false"}, extra...)...)
}

// mustApply applies and fails t unless it succeeded.
func (w *tfDir) mustApply() tfcli.Result {
	w.t.Helper()
	r := w.run("apply", "-auto-approve", "-input=false")
	if r.Code != 0 {
		w.t.Fatalf("%s", r)
	}
	return r
}

// requireEmptyPlan fails t unless `terraform plan -detailed-exitcode` exits 0.
func (w *tfDir) requireEmptyPlan() {
	w.t.Helper()
	r := w.run("plan", "-detailed-exitcode", "-input=false")
	if r.Code != 0 {
		w.t.Errorf("the plan after the apply is not empty: %s", r)
	}
}

// tfState is the part of a state file the tests read.
type tfState struct {
	Resources []struct {
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Instances []struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"instances"`
	} `json:"resources"`
}

// state reads the local state file.
func (w *tfDir) state() tfState {
	w.t.Helper()
	raw, err := os.ReadFile(filepath.Join(w.Dir, "terraform.tfstate"))
	if err != nil {
		w.t.Fatalf("reading the state: %v", err)
	}
	var s tfState
	if err := json.Unmarshal(raw, &s); err != nil {
		w.t.Fatalf("decoding the state: %v", err)
	}
	return s
}

// attrs returns a managed resource's attributes, nil when it is not in state.
func (s tfState) attrs(typ, name string) map[string]any {
	for _, r := range s.Resources {
		if r.Mode == "managed" && r.Type == typ && r.Name == name && len(r.Instances) > 0 {
			return r.Instances[0].Attributes
		}
	}
	return nil
}

// keyInState is an API key account as the state holds it.
type keyInState struct {
	ID      string
	Secret  string
	Version int64
}

func (s tfState) key(label string) (keyInState, bool) {
	a := s.attrs("apphost_api_key_account", label)
	if a == nil {
		return keyInState{}, false
	}
	k := keyInState{}
	k.ID, _ = a["id"].(string)
	k.Secret, _ = a["secret"].(string)
	if v, ok := a["secret_version"].(float64); ok {
		k.Version = int64(v)
	}
	return k, true
}

// config is a rotation configuration in the first design's pattern: keys
// keys, each with appsPerKey apps whose app secret holds the key's secret
// (value = key.secret); every key has rotation trigger trigger. Names start
// with prefix, so that several configurations can share a store.
func config(provider, prefix string, keys, appsPerKey int, trigger string) string {
	return rotationConfig(provider, prefix, keys, appsPerKey, trigger, false)
}

// configBound is config in the recommended pattern: expose_secret = false
// and app secrets bound with no value, so no secret passes through Terraform.
func configBound(provider, prefix string, keys, appsPerKey int, trigger string) string {
	return rotationConfig(provider, prefix, keys, appsPerKey, trigger, true)
}

func rotationConfig(provider, prefix string, keys, appsPerKey int, trigger string, bound bool) string {
	keyExtra, value := "", "\n  value              = apphost_api_key_account.%[2]s.secret"
	if bound {
		keyExtra, value = "\n  expose_secret     = false", ""
	}
	var b strings.Builder
	b.WriteString(`terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}
`)
	b.WriteString(provider)
	for _, k := range keyNames(prefix, keys) {
		fmt.Fprintf(&b, `
resource "apphost_api_key_account" %[1]q {
  name              = %[1]q
  rotation_triggers = { r = %[2]q }%[3]s
}
`, k, trigger, keyExtra)
		for _, a := range appNames(k, appsPerKey) {
			fmt.Fprintf(&b, `
resource "apphost_app" %[1]q {
  name = %[1]q
}

resource "apphost_app_secret" %[1]q {
  app_id             = apphost_app.%[1]s.id
  name               = "api-key"
  api_key_account_id = apphost_api_key_account.%[2]s.id`+value+`
}
`, a, k)
		}
	}
	return b.String()
}

func keyNames(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%sk%d", prefix, i))
	}
	return out
}

func appNames(key string, n int) []string {
	var out []string
	for j := 1; j <= n; j++ {
		out = append(out, fmt.Sprintf("%s_app%d", key, j))
	}
	return out
}

func embeddedProvider(storePath string) string {
	return fmt.Sprintf("\nprovider \"apphost\" {\n  store_path = %q\n}\n", storePath)
}

// openStore opens the SQLite store at path in this process (closed when t ends).
func openStore(t *testing.T, path string) *core.Service {
	t.Helper()
	return backendtest.Open(t, "sqlite:"+path, "")
}

// integrityCheck runs PRAGMA integrity_check and foreign_key_check on the
// SQLite file through a connection of its own.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var res []string
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	_ = rows.Close()
	if len(res) != 1 || res[0] != "ok" {
		t.Errorf("PRAGMA integrity_check of %s: %q", path, res)
	}
	rows, err = db.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatalf("foreign_key_check: %v", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	_ = rows.Close()
	if n != 0 {
		t.Errorf("PRAGMA foreign_key_check of %s: %d violations", path, n)
	}
}

func auditLog(ev []backend.AuditEvent) string {
	var b strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&b, "  %4d %-26s %-24s actor=%s %s\n", e.Seq, e.Action, e.TargetName, e.Actor, e.Detail)
	}
	return b.String()
}

// requireConverged checks the backend after a rotation that must be
// complete. After seq after: no failed login and no lock, and every app of
// every key logged in successfully after the key's last regenerate. Now:
// every app deployed, running, with one secret bound to its key; every key
// unlocked with no failed login, at the secret_version the state holds, and
// the secret in state logs in.
func requireConverged(t *testing.T, b backend.Backend, st tfState, after int64, keys map[string][]string) {
	t.Helper()
	ctx := context.Background()
	ev := backendtest.EventsAfter(t, b, after)
	if n := backendtest.Count(ev, backend.ActionLoginFailure) + backendtest.Count(ev, backend.ActionAccountLock); n > 0 {
		t.Errorf("%d failed logins or locks after seq %d:\n%s", n, after, auditLog(ev))
	}
	for key, apps := range keys {
		ks, ok := st.key(key)
		if !ok {
			t.Errorf("key %s is not in state", key)
			continue
		}
		a, err := b.GetAccount(ctx, ks.ID)
		if err != nil {
			t.Errorf("key %s: %v", key, err)
			continue
		}
		if a.Locked || a.FailedLoginAttempts != 0 {
			t.Errorf("key %s: locked=%v failed_login_attempts=%d", key, a.Locked, a.FailedLoginAttempts)
		}
		if a.SecretVersion != ks.Version {
			t.Errorf("key %s: secret_version %d in the store, %d in state", key, a.SecretVersion, ks.Version)
		}
		var regenerated int64
		for _, e := range ev {
			if e.Action == backend.ActionAccountRegenerate && e.TargetID == ks.ID {
				regenerated = e.Seq
			}
		}
		for _, name := range apps {
			app, err := b.GetAppByName(ctx, name)
			if err != nil {
				t.Errorf("app %s: %v", name, err)
				continue
			}
			if !app.Deployed || app.Status != backend.StatusRunning || len(app.Secrets) != 1 || !app.Secrets[0].HasValue ||
				app.Secrets[0].AccountID != ks.ID {
				t.Errorf("app %s: deployed=%v status=%s secrets=%+v", name, app.Deployed, app.Status, app.Secrets)
			}
			loggedIn := false
			for _, e := range ev {
				if e.Seq > regenerated && e.Action == backend.ActionLoginSuccess && e.Actor == name && e.TargetID == ks.ID {
					loggedIn = true
				}
			}
			if !loggedIn {
				t.Errorf("app %s has no login.success on %s after its regenerate (seq %d):\n%s", name, key, regenerated, auditLog(ev))
			}
		}
		// Last: this login is an event of its own (with expose_secret =
		// false there is no secret in state to log in with).
		if ks.Secret == "" {
			continue
		}
		if err := b.Login(ctx, backend.LoginRequest{AccountID: ks.ID, Secret: ks.Secret}); err != nil {
			t.Errorf("key %s: logging in with the secret in state: %v", key, err)
		}
	}
}

// providerPIDs lists the processes whose parent is parent and whose
// executable is bin: the provider plugins terraform started.
func providerPIDs(parent int, bin string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && isProvider(pid, parent, bin) {
			out = append(out, pid)
		}
	}
	return out
}

// isProvider reports whether process pid runs bin and is a child of parent.
// It is checked again before every signal, so that a PID the system has
// reused since it was listed is never signalled.
func isProvider(pid, parent int, bin string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || exe != bin {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ppid ...: comm may hold spaces, so split after ")".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return false
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid == parent
}

// copyDir copies the regular files of src (not its subdirectories) to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(filepath.Join(dst, e.Name()), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		_ = in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
