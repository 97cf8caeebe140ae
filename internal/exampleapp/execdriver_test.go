//go:build linux

package exampleapp_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/drivertest"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/exec"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// The example app run by the exec driver: it finds everything it needs in
// what the driver gives it (environment, app.config, secret files), logs in,
// takes a rotated secret on reload without a restart, and a wrong secret
// makes it exit, be restarted, and end failed, with the reason in its log.
func TestUnderExecDriver(t *testing.T) {
	// The App Host's own credentials: the app must neither see nor need them.
	t.Setenv("APPHOST_API_KEY_ID", "host-id")
	t.Setenv("APPHOST_API_KEY_SECRET", "host-secret-0123456789")
	srv := startServe(t, backendtest.SQLiteStore(t), "127.0.0.1:0", newAdmin())
	c := srv.client(t, "")
	id, secret := account(t, c, "siem")

	d, err := exec.New(exec.Options{
		Dir: filepath.Join(t.TempDir(), "host"), Endpoint: srv.URL,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, FailAfter: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	spec := driver.Spec{
		Name: "forwarder", Command: []string{bin, "example-app"}, Generation: 1,
		Config:       map[string]string{"login_interval": "1h"},
		Secrets:      []driver.Secret{{Name: "siem", Value: secret, AccountID: id}},
		ReloadSignal: "SIGHUP", StopTimeout: 5 * time.Second, AppToken: "token-1",
	}
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	first := drivertest.Running(t, d, "forwarder", 1)
	waitFor(t, "the app's login", func() bool { ok, _ := logins(t, c, id); return ok == 1 })

	rotated, err := c.RegenerateSecret(t.Context(), backend.RegenerateRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	spec.Generation, spec.Secrets[0].Value = 2, rotated.Secret
	if err := d.Reload(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a login with the rotated secret", func() bool { ok, _ := logins(t, c, id); return ok == 2 })
	if s, _ := d.State("forwarder"); s.PID != first.PID {
		t.Errorf("the reload restarted the app: %+v", s)
	}

	spec.Generation, spec.Secrets[0].Value = 3, "wrong-secret-0123456789abcdefghijklmnopqrstu"
	if err := d.Reload(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	st := drivertest.WaitFor(t, d, "forwarder", "failed", func(s driver.State) bool { return s.Phase == driver.PhaseFailed })
	if st.ExitCode != 1 || !strings.Contains(st.LogTail, "rejected the secret in secrets/siem for API key account "+id) {
		t.Errorf("failed state %+v: want exit status 1 and the rejection in LogTail", st)
	}
	if _, failed := logins(t, c, id); failed != 3 {
		t.Errorf("%d failed logins, want 3 (one per start, FailAfter 3)", failed)
	}
	if strings.Contains(st.LogTail, rotated.Secret) || strings.Contains(st.LogTail, secret) {
		t.Errorf("the log shows a secret: %s", st.LogTail)
	}
}
