package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
)

// run runs the CLI with args and stdin and returns its exit code and outputs.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// fixture is a store with two accounts, three apps and their app secrets.
type fixture struct {
	store   string
	siem    *backend.AccountWithSecret
	backup  *backend.AccountWithSecret
	secrets []string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	store := "sqlite:" + filepath.Join(t.TempDir(), "apphost.db")
	b, err := embedded.Open(ctx, embedded.Config{Store: store})
	if err != nil {
		t.Fatalf("embedded.Open: %v", err)
	}
	defer b.Close()

	f := fixture{store: store}
	if f.siem, err = b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "siem-forwarder"}); err != nil {
		t.Fatal(err)
	}
	if f.backup, err = b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "backup-agent"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		name string
		key  *backend.AccountWithSecret
	}{{"east", f.siem}, {"west", f.siem}, {"backup", f.backup}} {
		app, err := b.CreateApp(ctx, backend.CreateAppRequest{Name: a.name, AppHost: backend.DefaultAppHost})
		if err != nil {
			t.Fatal(err)
		}
		v := a.key.Secret
		if _, err := b.PutAppSecret(ctx, backend.PutAppSecretRequest{
			AppID: app.ID, Name: "api-key", AccountID: a.key.ID, Value: &v,
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.DeployApp(ctx, app.ID); err != nil {
			t.Fatal(err)
		}
	}
	f.secrets = []string{f.siem.Secret, f.backup.Secret}
	return f
}

// noSecret fails the test when any output holds one of the secrets.
func (f fixture) noSecret(t *testing.T, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, s := range f.secrets {
			if s != "" && strings.Contains(out, s) {
				t.Fatalf("output holds a secret:\n%s", out)
			}
		}
	}
}

func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var rows []T
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row T
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	return rows
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{"no command", nil, 2, "", "Commands:"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, 0, "audit", ""},
		{"--help", []string{"--help"}, 0, "accounts", ""},
		{"help command", []string{"help", "login"}, 0, "", "--secret-stdin"},
		{"bad flag", []string{"audit", "--no-such-flag"}, 2, "", "flag provided but not defined"},
		{"extra argument", []string{"accounts", "extra"}, 2, "", `unexpected argument "extra"`},
		{"login without key", []string{"login", "--secret-stdin"}, 2, "", "--key-id"},
		{"login without stdin flag", []string{"login", "--key-id", "x"}, 2, "", "--secret-stdin"},
		{"negative after", []string{"audit", "--after", "-1"}, 2, "", "--after"},
		{"version", []string{"version"}, 0, Program + " dev", ""},
		{"--version", []string{"--version"}, 0, Program + " dev", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.out) {
				t.Errorf("stdout %q does not contain %q", stdout, tt.out)
			}
			if !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.err)
			}
		})
	}
}

func TestAccounts(t *testing.T) {
	f := newFixture(t)

	code, stdout, stderr := run(t, "", "accounts", "--store", f.store, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f.noSecret(t, stdout, stderr)
	rows := jsonLines[accountRow](t, stdout)
	byName := map[string]accountRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	siem, ok := byName["siem-forwarder"]
	if !ok {
		t.Fatalf("no siem-forwarder row in %s", stdout)
	}
	if siem.ID != f.siem.ID || siem.SecretVersion != f.siem.SecretVersion || siem.Locked ||
		siem.FailedLoginAttempts != 0 || siem.SecretCreatedAt.IsZero() {
		t.Errorf("siem row = %+v", siem)
	}
	if got := strings.Join(siem.Apps, ","); got != "east,west" {
		t.Errorf("siem apps = %q, want east,west", got)
	}
	if got := strings.Join(byName["backup-agent"].Apps, ","); got != "backup" {
		t.Errorf("backup apps = %q, want backup", got)
	}
	// Every field the design names is there, under its name.
	var raw map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(stdout, "\n", 2)[0]), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "locked", "failed_login_attempts", "secret_version", "secret_created_at", "apps"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON row has no %q: %v", k, raw)
		}
	}

	code, stdout, stderr = run(t, "", "accounts", "--store", f.store)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f.noSecret(t, stdout, stderr)
	for _, want := range []string{"NAME", "ID", "LOCKED", "FAILED LOGINS", "SECRET AGE", "APPS",
		"siem-forwarder", f.siem.ID, "east,west", "<1m"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table does not contain %q:\n%s", want, stdout)
		}
	}
}

func TestAudit(t *testing.T) {
	f := newFixture(t)

	code, stdout, stderr := run(t, "", "audit", "--store", f.store, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f.noSecret(t, stdout, stderr)
	events := jsonLines[backend.AuditEvent](t, stdout)
	if len(events) == 0 {
		t.Fatal("no audit events")
	}
	actions := map[string]bool{}
	for i, e := range events {
		if i > 0 && e.Seq <= events[i-1].Seq {
			t.Errorf("events not oldest first: seq %d after %d", e.Seq, events[i-1].Seq)
		}
		if e.Time.IsZero() || e.Actor == "" || e.Action == "" || e.TargetType == "" {
			t.Errorf("incomplete event %+v", e)
		}
		actions[e.Action] = true
	}
	for _, a := range []string{backend.ActionAccountCreate, backend.ActionAppCreate,
		backend.ActionAppSecretPut, backend.ActionAppDeploy} {
		if !actions[a] {
			t.Errorf("no %s event in %s", a, stdout)
		}
	}

	// --after keeps the later events only.
	mid := events[len(events)/2].Seq
	code, stdout, _ = run(t, "", "audit", "--store", f.store, "--json", "--after", strconv.FormatInt(mid, 10))
	if code != 0 {
		t.Fatal(code)
	}
	later := jsonLines[backend.AuditEvent](t, stdout)
	if len(later) == 0 || later[0].Seq <= mid || later[len(later)-1].Seq != events[len(events)-1].Seq {
		t.Errorf("--after %d gave %+v", mid, later)
	}

	code, stdout, stderr = run(t, "", "audit", "--store", f.store)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f.noSecret(t, stdout, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(events)+1 {
		t.Errorf("table has %d lines for %d events:\n%s", len(lines), len(events), stdout)
	}
	for _, want := range []string{"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "siem-forwarder", backend.ActionAppDeploy} {
		if !strings.Contains(lines[0]+stdout, want) {
			t.Errorf("table does not contain %q", want)
		}
	}
	// Aligned: the ACTION column starts at the same offset on every line.
	col := strings.Index(lines[0], "ACTION")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("line not aligned with the header:\n%s\n%s", lines[0], l)
		}
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	login := func(secret string) (int, string, string) {
		t.Helper()
		code, stdout, stderr := run(t, secret+"\n", "login", "--store", f.store, "--key-id", f.backup.ID, "--secret-stdin")
		f.noSecret(t, stdout, stderr)
		if strings.Contains(stdout+stderr, "wrong-secret") {
			t.Fatalf("output echoes the secret given:\n%s%s", stdout, stderr)
		}
		return code, stdout, stderr
	}

	if code, stdout, stderr := login(f.backup.Secret); code != 0 || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("right secret: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, _, stderr := login("wrong-secret")
	if code != 1 || !strings.Contains(stderr, "wrong key ID or secret") {
		t.Fatalf("wrong secret: exit %d, stderr %q", code, stderr)
	}
	// Unknown key ID: a failure too.
	code, _, stderr = run(t, "wrong-secret\n", "login", "--store", f.store, "--key-id", "00000000-0000-0000-0000-000000000000", "--secret-stdin")
	if code != 1 || strings.Contains(stderr, "wrong-secret") {
		t.Fatalf("unknown key: exit %d, stderr %q", code, stderr)
	}
	// No secret at all.
	code, _, stderr = run(t, "", "login", "--store", f.store, "--key-id", f.backup.ID, "--secret-stdin")
	if code != 1 || !strings.Contains(stderr, "no secret") {
		t.Fatalf("empty stdin: exit %d, stderr %q", code, stderr)
	}

	// Failures up to the threshold lock the account; then even the right secret fails.
	for i := 1; i < backend.DefaultLockoutThreshold; i++ {
		login("wrong-secret")
	}
	code, _, stderr = login(f.backup.Secret)
	if code != 1 || !strings.Contains(stderr, "locked") {
		t.Fatalf("locked account: exit %d, stderr %q", code, stderr)
	}
	_, stdout, _ := run(t, "", "accounts", "--store", f.store, "--json")
	for _, r := range jsonLines[accountRow](t, stdout) {
		if r.Name == "backup-agent" && !r.Locked {
			t.Errorf("backup-agent not locked: %+v", r)
		}
	}
}

// TestDefaultStore: without --store a command opens (creating it) the store
// that APPHOST_STORE_PATH names.
func TestDefaultStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "apphost.db")
	t.Setenv("APPHOST_STORE_PATH", path)
	code, stdout, stderr := run(t, "", "accounts", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "siem") {
		t.Errorf("a new store is not empty: %s", stdout)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("store not created at %s: %v", path, err)
	}
}

func TestOpenFailure(t *testing.T) {
	// A directory where the database file should be.
	dir := t.TempDir()
	code, _, stderr := run(t, "", "audit", "--store", "sqlite:"+dir)
	if code != 1 || !strings.Contains(stderr, "opening store") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Second:                           "<1m",
		7 * time.Minute:                            "7m",
		5*time.Hour + 12*time.Minute:               "5h12m",
		3*24*time.Hour + 4*time.Hour + time.Hour/2: "3d4h",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRedactStore(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:/tmp/a.db":                     "sqlite:/tmp/a.db",
		"postgres://u:pw@db:5432/x?sslmode=no": "postgres://u:xxxxx@db:5432/x?sslmode=no",
		"postgres://u@db/x":                    "postgres://u@db/x",
	} {
		if got := redactStore(in); got != want {
			t.Errorf("redactStore(%q) = %q, want %q", in, got, want)
		}
	}
}
