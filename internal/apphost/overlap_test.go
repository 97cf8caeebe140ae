//go:build linux

package apphost_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// An overlap rotation through the real host process and example apps: the
// app with a reload_signal gets its new secret file and the signal and
// keeps its process (app.reload, no downtime); the one without is
// restarted (app.deploy with its downtime). Every login succeeds, and the
// old secret fails the moment the rotation is done.
func TestHostOverlapReloadsOrRestarts(t *testing.T) {
	s := startServe(t, "127.0.0.1:0", "")
	id, secretFile := s.hostAccount(t, "east")
	ctx := t.Context()
	key, err := s.c.CreateAccount(ctx, backend.CreateAccountRequest{Name: "siem", RotationStrategy: backend.StrategyOverlap})
	if err != nil {
		t.Fatal(err)
	}
	if key.RotationStrategy != backend.StrategyOverlap || key.OverlapPeriod != "15m0s" {
		t.Errorf("account %+v, want rotation_strategy overlap, overlap_period 15m0s", key.Account)
	}
	apps := map[string]string{}
	for name, signal := range map[string]string{"hup": "SIGHUP", "plain": ""} {
		app, err := s.c.CreateApp(ctx, backend.CreateAppRequest{Name: name, AppHost: "east", Deployed: true,
			Config:     map[string]string{"login_interval": "1s"},
			AppRuntime: backend.AppRuntime{Command: []string{bin, "example-app"}, ReloadSignal: signal}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.c.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "api", AccountID: key.ID}); err != nil {
			t.Fatal(err)
		}
		apps[name] = app.ID
	}
	dir := filepath.Join(t.TempDir(), "host-east")
	startHost(t, s, "east", id, secretFile, dir)
	pids := map[string]int{}
	for name, appID := range apps {
		pids[name] = waitApp(t, s, appID, "running", running).Process.PID
		waitFor(t, "a proven login of "+name, func() bool { return provenLogins(t, s, key.ID, name, 1) > 0 })
	}

	res, err := s.c.RegenerateSecret(ctx, backend.RegenerateRequest{ID: key.ID, ExpectedSecretVersion: 1})
	if err != nil {
		t.Fatalf("overlap rotation: %v", err)
	}
	if res.SecretVersion != 2 || res.Secret == "" || res.Rotation == nil || res.Rotation.Outcome != backend.RotationDone ||
		res.Rotation.Strategy != backend.StrategyOverlap {
		t.Fatalf("result: secret_version %d, rotation %+v; want 2, done, overlap", res.SecretVersion, res.Rotation)
	}
	if err := s.c.Login(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret}); backend.CodeOf(err) != backend.CodeLoginFailed {
		t.Errorf("login with the old secret after the rotation: %v, want it refused", err)
	}
	steps := map[string]backend.RotationStep{}
	for _, st := range res.Rotation.Steps {
		steps[st.AppName] = st
	}
	if st := steps["hup"]; st.Phase != backend.StepMoved || st.DowntimeMS != nil {
		t.Errorf("step of the app with reload_signal: %+v, want moved without downtime", st)
	}
	if st := steps["plain"]; st.Phase != backend.StepMoved || st.DowntimeMS == nil {
		t.Errorf("step of the app without reload_signal: %+v, want moved with its downtime", st)
	}
	hup := waitApp(t, s, apps["hup"], "running", running)
	if hup.Process.PID != pids["hup"] {
		t.Errorf("the app with reload_signal runs as PID %d, was %d: want its process kept", hup.Process.PID, pids["hup"])
	}
	if plain := waitApp(t, s, apps["plain"], "running", running); plain.Process.PID == pids["plain"] {
		t.Errorf("the app without reload_signal still runs as PID %d: want it restarted", plain.Process.PID)
	}
	for name := range apps {
		if n := provenLogins(t, s, key.ID, name, 2); n == 0 {
			t.Errorf("no login of %s as itself with secret_version=2", name)
		}
	}
	if f := failedLogins(t, s); len(f) > 1 { // the probe above
		t.Errorf("failed logins: %+v", f)
	}
	events, err := s.c.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	started := false
	for _, e := range events {
		started = started || (e.Action == backend.ActionRotationStart && e.TargetID == res.Rotation.ID)
		if started && (e.Action == backend.ActionAppReload || e.Action == backend.ActionAppDeploy) {
			moves = append(moves, e.Action+" "+e.TargetName)
			if e.TargetName == "plain" && !positiveDowntime(e.Detail) {
				t.Errorf("the restart of plain: %q, want a positive downtime_ms", e.Detail)
			}
			if e.TargetName == "hup" && strings.Contains(e.Detail, "downtime_ms") {
				t.Errorf("the reload of hup: %q, want no downtime", e.Detail)
			}
		}
	}
	if want := []string{"app.reload hup", "app.deploy plain"}; !slices.Equal(moves, want) {
		t.Errorf("moves %q, want %q (name order, one at a time)", moves, want)
	}
}

// A canary that cannot run on the pending secret (it exits 3 at its start
// when its secret changed): the rotation rolls back through the real host:
// the canary is restarted on the current secret, the other app never
// moves (same process, no reload), the key is as it was, its old secret
// logs in and nothing is locked. The error names the canary and its
// status_detail.
func TestHostOverlapCanaryRollsBack(t *testing.T) {
	s := startServe(t, "127.0.0.1:0", "")
	id, secretFile := s.hostAccount(t, "east")
	ctx := t.Context()
	key, err := s.c.CreateAccount(ctx, backend.CreateAccountRequest{Name: "siem", RotationStrategy: backend.StrategyOverlap})
	if err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(t.TempDir(), "first-secret")
	broken := []string{"/bin/sh", "-c", `s=$(sha256sum < "$APPHOST_APP_DIR/secrets/api") || exit 1
[ -e "$1" ] || echo "$s" > "$1"
if [ "$s" != "$(cat "$1")" ]; then echo "broken-app: cannot start: the secret changed" >&2; exit 3; fi
exec "$2" example-app`, "broken-app", mark, bin}
	apps := map[string]string{}
	for name, rt := range map[string]backend.AppRuntime{
		"a-canary": {Command: broken, StartTimeout: "3s"},
		"b-other":  {Command: []string{bin, "example-app"}, ReloadSignal: "SIGHUP"},
	} {
		app, err := s.c.CreateApp(ctx, backend.CreateAppRequest{Name: name, AppHost: "east", Deployed: true,
			Config: map[string]string{"login_interval": "1s"}, AppRuntime: rt})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.c.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "api", AccountID: key.ID}); err != nil {
			t.Fatal(err)
		}
		apps[name] = app.ID
	}
	startHost(t, s, "east", id, secretFile, filepath.Join(t.TempDir(), "host-east"))
	other := waitApp(t, s, apps["b-other"], "running", running).Process.PID
	waitApp(t, s, apps["a-canary"], "running", running)

	_, err = s.c.RegenerateSecret(ctx, backend.RegenerateRequest{ID: key.ID, ExpectedSecretVersion: 1})
	if !backend.IsRefused(err) || !strings.Contains(err.Error(), "rolled_back") || !strings.Contains(err.Error(), `app "a-canary"`) ||
		!strings.Contains(err.Error(), "cannot start: the secret changed") {
		t.Fatalf("overlap rotation with a canary that exits = %v, want refused as rolled_back naming a-canary and its stderr", err)
	}
	acc, err := s.c.GetAccount(ctx, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acc.SecretVersion != 1 || acc.PendingSecretVersion != 0 || acc.Locked || acc.FailedLoginAttempts != 0 {
		t.Errorf("account after the rollback: %+v", acc)
	}
	waitApp(t, s, apps["a-canary"], "running again on the current secret", running)
	if got := waitApp(t, s, apps["b-other"], "running", running); got.Process.PID != other {
		t.Errorf("b-other runs as PID %d, was %d: it should never have moved", got.Process.PID, other)
	}
	if err := s.c.Login(ctx, backend.LoginRequest{AccountID: key.ID, Secret: key.Secret}); err != nil {
		t.Errorf("the old secret after the rollback: %v", err)
	}
	events, err := s.c.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	started := false
	for _, e := range events {
		started = started || e.Action == backend.ActionRotationStart
		if started && (e.TargetName == "b-other/api" || e.Action == backend.ActionAccountRegenerate ||
			e.TargetName == "b-other" && (e.Action == backend.ActionAppReload || e.Action == backend.ActionAppDeploy)) {
			t.Errorf("the rolled-back rotation: %s %s", e.Action, e.TargetName)
		}
	}
	if f := failedLogins(t, s); len(f) > 0 {
		t.Errorf("failed logins: %+v", f)
	}
}
