package backend

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// deployedWithSecret sets up the DESIGN.md example: a key account and a
// deployed app whose app secret holds the key's secret.
func deployedWithSecret(t *testing.T, e *env) (*AccountWithSecret, *App) {
	t.Helper()
	acc := e.account(t, "siem-forwarder")
	app := e.app(t, "forwarder", true)
	e.put(t, app.ID, "siem-forwarder", acc.ID, ptr(acc.Secret), true)
	if got := e.getApp(t, app.ID); got.Status != StatusRunning {
		t.Fatalf("status = %s, want running", got.Status)
	}
	return acc, app
}

func TestDeployLogsIn(t *testing.T) {
	e := newEnv(t, 0)
	acc := e.account(t, "k")
	app := e.app(t, "web", false)
	e.put(t, app.ID, "key", acc.ID, ptr(acc.Secret), false)
	seq := e.lastSeq(t)
	got, err := e.s.DeployApp(context.Background(), app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusRunning || !got.Deployed {
		t.Errorf("deployed app = %+v", got)
	}
	want := []string{"terraform app.deploy web", "web login.success k"}
	if acts := e.actionsSince(t, seq); !slices.Equal(acts, want) {
		t.Errorf("audit = %q, want %q", acts, want)
	}
}

// Regenerating while the app is deployed: the app keeps logging in with its
// stale secret until the account locks, and the app fails.
func TestRegenerateWhileDeployedLocksAccount(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)

	seq := e.lastSeq(t)
	r, err := e.s.RegenerateSecret(ctx, RegenerateRequest{ID: acc.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	want := []string{"terraform api_key_account.regenerate siem-forwarder"}
	for range DefaultLockoutThreshold {
		want = append(want, "forwarder login.failure siem-forwarder")
	}
	want = append(want, "forwarder api_key_account.lock siem-forwarder")
	if acts := e.actionsSince(t, seq); !slices.Equal(acts, want) {
		t.Errorf("audit =\n%s\nwant\n%s", strings.Join(acts, "\n"), strings.Join(want, "\n"))
	}
	if !r.Locked || r.FailedLoginAttempts != DefaultLockoutThreshold {
		t.Errorf("regenerate returned %+v; want it locked by the runtime", r.Account)
	}
	if got := e.getAccount(t, acc.ID); !got.Locked {
		t.Error("account not locked")
	}
	if got := e.getApp(t, app.ID); got.Status != StatusFailed || !got.Running() {
		t.Errorf("app status = %s, want failed", got.Status)
	}
}

// The order Terraform applies: undeploy, regenerate, put secret, deploy.
func TestRotationInOrderNeverFails(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	seq := e.lastSeq(t)

	if err := e.s.DeleteAppSecret(ctx, DeleteAppSecretRequest{AppID: app.ID, Name: "siem-forwarder", Undeploy: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.getApp(t, app.ID); got.Status != StatusStopped || !got.Deployed {
		t.Fatalf("after undeploy: status %s deployed %v, want stopped and still meant to be deployed", got.Status, got.Deployed)
	}
	r, err := e.s.RegenerateSecret(ctx, RegenerateRequest{ID: acc.ID, RefuseIfAppsRunning: true, IdempotencyKey: "apply-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, app.ID, "siem-forwarder", acc.ID, ptr(r.Secret), true)

	want := []string{
		"terraform app.undeploy forwarder",
		"terraform app_secret.delete forwarder/siem-forwarder",
		"terraform api_key_account.regenerate siem-forwarder",
		"terraform app_secret.put forwarder/siem-forwarder",
		"terraform app.deploy forwarder",
		"forwarder login.success siem-forwarder",
	}
	acts := e.actionsSince(t, seq)
	if !slices.Equal(acts, want) {
		t.Errorf("audit =\n%s\nwant\n%s", strings.Join(acts, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range e.actionsSince(t, 0) {
		if strings.Contains(a, "login.failure") || strings.Contains(a, "api_key_account.lock") {
			t.Errorf("rotation caused %q", a)
		}
	}
	if got := e.getApp(t, app.ID); got.Status != StatusRunning {
		t.Errorf("status = %s", got.Status)
	}
	if got := e.getAccount(t, acc.ID); got.Locked || got.FailedLoginAttempts != 0 || got.SecretVersion != 2 {
		t.Errorf("account = %+v", got)
	}
}

func TestGuardRefusesAndChangesNothing(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, _ := deployedWithSecret(t, e)
	other := e.app(t, "another", true)
	e.put(t, other.ID, "k", acc.ID, ptr(acc.Secret), false)
	stopped := e.app(t, "stopped-app", false)
	e.put(t, stopped.ID, "k", acc.ID, ptr(acc.Secret), false)

	before := e.getAccount(t, acc.ID)
	seq := e.lastSeq(t)
	_, err := e.s.RegenerateSecret(ctx, RegenerateRequest{ID: acc.ID, RefuseIfAppsRunning: true, IdempotencyKey: "x"})
	wantCode(t, err, CodeAppsRunning)
	var be *Error
	if !errors.As(err, &be) || !slices.Equal(be.Apps, []string{"another", "forwarder"}) {
		t.Errorf("apps = %q, want sorted running apps", be.Apps)
	}
	if !strings.Contains(err.Error(), "another, forwarder") {
		t.Errorf("message = %q", err)
	}
	wantCode(t, e.s.DeleteAccount(ctx, DeleteAccountRequest{ID: acc.ID, RefuseIfAppsRunning: true}), CodeAppsRunning)

	after := e.getAccount(t, acc.ID)
	if after.SecretVersion != before.SecretVersion || !after.SecretCreatedAt.Equal(before.SecretCreatedAt) {
		t.Errorf("account changed: %+v", after)
	}
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("refusal was audited or changed something: %q", acts)
	}
	if err := e.s.Login(ctx, LoginRequest{AccountID: acc.ID, Secret: acc.Secret}); err != nil {
		t.Errorf("old secret no longer works: %v", err)
	}
	// The idempotency key was not consumed by the refusal.
	err = e.st.Read(ctx, func(tx store.Tx) error {
		_, err := tx.GetIdempotency(ctx, acc.ID, "x")
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("idempotency row after refusal: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutSecretIntoRunningAppReloads(t *testing.T) {
	e := newEnv(t, 3)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)

	// A wrong value makes the running app fail its logins until the lock.
	seq := e.lastSeq(t)
	e.put(t, app.ID, "siem-forwarder", acc.ID, ptr("wrong-secret-value"), false)
	acts := e.actionsSince(t, seq)
	if countActions(acts, "login.failure") != 3 || countActions(acts, "api_key_account.lock") != 1 {
		t.Errorf("audit = %q", acts)
	}
	if got := e.getApp(t, app.ID); got.Status != StatusFailed {
		t.Errorf("status = %s, want failed", got.Status)
	}

	// The cure: stop the app, regenerate, put the new value, deploy again.
	if err := e.s.DeleteAppSecret(ctx, DeleteAppSecretRequest{AppID: app.ID, Name: "siem-forwarder", Undeploy: true}); err != nil {
		t.Fatal(err)
	}
	r, err := e.s.RegenerateSecret(ctx, RegenerateRequest{ID: acc.ID, RefuseIfAppsRunning: true})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	e.put(t, app.ID, "siem-forwarder", acc.ID, ptr(r.Secret), true)
	if got := e.getApp(t, app.ID); got.Status != StatusRunning {
		t.Errorf("status = %s, want running", got.Status)
	}
	// Binding only (no value) keeps the stored value and does not reload.
	seq = e.lastSeq(t)
	e.put(t, app.ID, "siem-forwarder", acc.ID, nil, false)
	if acts := e.actionsSince(t, seq); !slices.Equal(acts, []string{"terraform app_secret.put forwarder/siem-forwarder"}) {
		t.Errorf("binding-only put = %q", acts)
	}
	sec, err := e.s.GetAppSecret(ctx, app.ID, "siem-forwarder")
	if err != nil || !sec.HasValue || sec.AccountID != acc.ID || sec.AppName != "forwarder" {
		t.Errorf("secret = %+v, %v", sec, err)
	}
	// And that value still logs in.
	if _, err := e.s.UndeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	seq = e.lastSeq(t)
	if _, err := e.s.DeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if acts := e.actionsSince(t, seq); !slices.Equal(acts, []string{"terraform app.deploy forwarder", "forwarder login.success siem-forwarder"}) {
		t.Errorf("redeploy = %q", acts)
	}
}

func TestRedeployOnlyWhenMeantToBeDeployed(t *testing.T) {
	e := newEnv(t, 0)
	acc := e.account(t, "k")
	app := e.app(t, "idle", false)
	seq := e.lastSeq(t)
	e.put(t, app.ID, "k", acc.ID, ptr(acc.Secret), true)
	if acts := e.actionsSince(t, seq); len(acts) != 1 {
		t.Errorf("put with Redeploy into an undeployed app = %q", acts)
	}
	if got := e.getApp(t, app.ID); got.Status != StatusStopped || got.Deployed {
		t.Errorf("app = %+v", got)
	}
}

func TestWrongKeyFileIsKeyFileError(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc := e.account(t, "k")
	app := e.app(t, "web", false)
	e.put(t, app.ID, "k", acc.ID, ptr(acc.Secret), false)

	other, err := secretbox.LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	s2 := NewService(e.st, other, Options{Now: e.clock.Now})
	seq := e.lastSeq(t)
	_, err = s2.DeployApp(ctx, app.ID)
	wantCode(t, err, CodeKeyFile)
	if !strings.Contains(err.Error(), "restore the key file") {
		t.Errorf("message = %q", err)
	}
	// Nothing half-written: the deploy event and the status were rolled back.
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("audit after failed deploy = %q", acts)
	}
	if got := e.getApp(t, app.ID); got.Deployed || got.Status != StatusStopped {
		t.Errorf("app after failed deploy = %+v", got)
	}
}

func TestFailedStepRollsBackEverything(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	seq := e.lastSeq(t)

	// DeleteApp fails at its last step: the undeploy and the secret deletion
	// before it must not remain.
	e.st.failAudit = ActionAppDelete
	err := e.s.DeleteApp(ctx, app.ID)
	wantCode(t, err, CodeInternal)
	if !errors.Is(err, errInjected) {
		t.Errorf("err = %v", err)
	}
	if got := e.getApp(t, app.ID); got.Status != StatusRunning || len(got.Secrets) != 1 {
		t.Errorf("app after failed delete = %+v", got)
	}

	// Regenerate fails after the runtime ran: the new secret is not stored.
	e.st.failAudit = ActionAccountLock
	_, err = e.s.RegenerateSecret(ctx, RegenerateRequest{ID: acc.ID})
	wantCode(t, err, CodeInternal)
	if got := e.getAccount(t, acc.ID); got.SecretVersion != 1 || got.Locked || got.FailedLoginAttempts != 0 {
		t.Errorf("account after failed regenerate = %+v", got)
	}
	e.st.failAudit = ""
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("audit after failed changes = %q", acts)
	}
	if err := e.s.Login(ctx, LoginRequest{AccountID: acc.ID, Secret: acc.Secret}); err != nil {
		t.Errorf("original secret: %v", err)
	}
}
