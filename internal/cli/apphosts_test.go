package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
)

// app-hosts lists the real App Hosts (one per App Host account) and the
// built-in one of each other app_host in use; forget declares a real one
// lost, audited.
func TestAppHosts(t *testing.T) {
	ctx := context.Background()
	store := "sqlite:" + filepath.Join(t.TempDir(), "apphost.db")
	b, err := embedded.Open(ctx, embedded.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	host, err := b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "host-east", AppHost: "east"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []backend.CreateAppRequest{{Name: "api", AppHost: "east"}, {Name: "web", AppHost: backend.DefaultAppHost}} {
		if _, err := b.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	_ = b.Close()

	code, stdout, stderr := run(t, "", "app-hosts", "--store", store, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := jsonLines[backend.AppHost](t, stdout)
	if len(rows) != 2 || rows[0].Name != backend.DefaultAppHost || !rows[0].BuiltIn || rows[0].State != backend.AppHostBuiltIn ||
		strings.Join(rows[0].Apps, ",") != "web" || rows[1].Name != "east" || rows[1].BuiltIn ||
		rows[1].State != backend.AppHostUnknown || strings.Join(rows[1].Apps, ",") != "api" {
		t.Errorf("rows %+v", rows)
	}
	if strings.Contains(stdout, host.Secret) || strings.Contains(stderr, host.Secret) {
		t.Fatal("output shows the App Host account's secret")
	}
	code, stdout, stderr = run(t, "", "app-hosts", "--store", store)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"NAME", "STATE", "BUILT-IN", "ADDRESS", "INSTANCE", "LAST REPORT", "APPS", "east", "unknown", "api", "built_in"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table does not contain %q:\n%s", want, stdout)
		}
	}

	for _, args := range [][]string{{"app-hosts", "forget", "east", "--store", store}, {"app-hosts", "forget", "--store", store, "east"}} {
		code, stdout, stderr = run(t, "", args...)
		if code != 0 || !strings.Contains(stdout, `App Host "east" is declared lost`) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	code, stdout, _ = run(t, "", "audit", "--store", store, "--json")
	if code != 0 {
		t.Fatal("audit failed")
	}
	forgets := 0
	for _, e := range jsonLines[backend.AuditEvent](t, stdout) {
		if e.Action == backend.ActionAppHostForget && e.TargetName == "east" && e.Actor == actor {
			forgets++
		}
	}
	if forgets != 2 {
		t.Errorf("%d app_host.forget events by %s, want 2", forgets, actor)
	}

	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"app-hosts", "forget", backend.DefaultAppHost, "--store", store}, exitFail, "no App Host account claims"},
		{[]string{"app-hosts", "forget", "--store", store}, exitUsage, "give the NAME"},
		{[]string{"app-hosts", "forget", "east", "west", "--store", store}, exitUsage, `unexpected argument "west"`},
		{[]string{"app-hosts", "--store", store, "extra"}, exitUsage, `unexpected argument "extra"`},
	} {
		code, _, stderr := run(t, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.err)
		}
	}
}
