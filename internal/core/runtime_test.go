package core

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// deployedWithSecret sets up the DESIGN.md example: a key account and a
// deployed app with an app secret bound to it (filled by the backend).
func deployedWithSecret(t *testing.T, e *env) (*backend.AccountWithSecret, *backend.App) {
	t.Helper()
	acc := e.account(t, "siem-forwarder")
	app := e.app(t, "forwarder", true)
	e.put(t, app.ID, "siem-forwarder", acc.ID, nil)
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning {
		t.Fatalf("status = %s, want running", got.Status)
	}
	return acc, app
}

func TestDeployLogsIn(t *testing.T) {
	e := newEnv(t, 0)
	acc := e.account(t, "k")
	app := e.app(t, "web", false)
	e.put(t, app.ID, "key", acc.ID, nil)
	seq := e.lastSeq(t)
	got, err := e.s.DeployApp(context.Background(), app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != backend.StatusRunning || !got.Deployed {
		t.Errorf("deployed app = %+v", got)
	}
	want := []string{"terraform app.deploy web", "web login.success k"}
	e.wantActions(t, seq, want...)
}

// putStale writes a stale copy of the secret straight into the store, as a
// wrong order of hand steps would leave it: the backend's API refuses to.
func (e *env) putStale(t *testing.T, appID, name, accountID string) {
	t.Helper()
	ctx := context.Background()
	err := e.st.Write(ctx, func(tx store.Tx) error {
		return tx.PutAppSecret(ctx, store.AppSecretRow{
			AppID: appID, Name: name, AccountID: accountID,
			Ciphertext: e.box.Seal([]byte("ahk_stale-copy-of-an-old-secret")), UpdatedAt: time.Now(),
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The wrong order still locks: a running app with a stale secret keeps
// logging in until the account locks, and the app fails.
func TestStaleSecretInRunningAppLocksAccount(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	e.putStale(t, app.ID, "siem-forwarder", acc.ID)
	if _, err := e.s.UndeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	seq := e.lastSeq(t)
	if _, err := e.s.DeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{"terraform app.deploy forwarder"}
	for range backend.DefaultLockoutThreshold {
		want = append(want, "forwarder login.failure siem-forwarder")
	}
	want = append(want, "forwarder api_key_account.lock siem-forwarder")
	e.wantActions(t, seq, want...)
	if got := e.getAccount(t, acc.ID); !got.Locked {
		t.Error("account not locked")
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusFailed {
		t.Errorf("app status = %s, want failed", got.Status)
	}

	// The cure is one rotation: it unlocks and reseals, and the app runs.
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, ExpectedSecretVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	if r.Locked || e.getApp(t, app.ID).Status != backend.StatusRunning {
		t.Errorf("after rotation: account %+v, app %s", r.Account, e.getApp(t, app.ID).Status)
	}
}

// A rotation is one transaction in the hand procedure's order: undeploy each
// bound app meant to be deployed, regenerate, seal into every bound secret,
// deploy again; apps not bound are untouched.
func TestRotationIsOneOperation(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	another := e.app(t, "another", true)
	e.put(t, another.ID, "k", acc.ID, ptr(acc.Secret)) // bound with a value: the first design's way
	idle := e.app(t, "idle", false)
	e.put(t, idle.ID, "k", acc.ID, nil)
	neighbourKey := e.account(t, "neighbour-key")
	neighbour := e.app(t, "neighbour", true)
	e.put(t, neighbour.ID, "k", neighbourKey.ID, nil)
	seq := e.lastSeq(t)

	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, ExpectedSecretVersion: 1, IdempotencyKey: "apply-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	want := []string{
		"terraform rotation.start siem-forwarder",
		"terraform rotation.step siem-forwarder", // prepared
		"terraform app.undeploy another",
		"terraform app.undeploy forwarder",
		"terraform rotation.step siem-forwarder", // stopped
		"terraform api_key_account.regenerate siem-forwarder",
		"terraform app_secret.put another/k",
		"terraform app_secret.put forwarder/siem-forwarder",
		"terraform app_secret.put idle/k",
		"terraform rotation.step siem-forwarder", // regenerated
		"terraform app.deploy another",
		"another login.success siem-forwarder",
		"terraform app.deploy forwarder",
		"forwarder login.success siem-forwarder",
		"terraform rotation.end siem-forwarder",
	}
	e.wantActions(t, seq, want...)
	for _, ev := range e.events(t) {
		if ev.Seq > seq && ev.Action == backend.ActionAppDeploy && !strings.Contains(ev.Detail, "downtime_ms=") {
			t.Errorf("deploy event without downtime_ms: %q", ev.Detail)
		}
	}
	if got := e.getAccount(t, acc.ID); got.Locked || got.FailedLoginAttempts != 0 || got.SecretVersion != 2 || !got.HasSealedSecret {
		t.Errorf("account = %+v", got)
	}
	for _, id := range []string{app.ID, another.ID, neighbour.ID} {
		if got := e.getApp(t, id); got.Status != backend.StatusRunning || !got.Deployed {
			t.Errorf("app %s = %s, deployed %v", got.Name, got.Status, got.Deployed)
		}
	}
	if got := e.getApp(t, idle.ID); got.Status != backend.StatusStopped || got.Deployed {
		t.Errorf("idle app = %+v; want it left undeployed", got)
	}
	// The idle app got the new secret too: deploying it later logs in.
	seq = e.lastSeq(t)
	if _, err := e.s.DeployApp(ctx, idle.ID); err != nil {
		t.Fatal(err)
	}
	e.wantActions(t, seq, "terraform app.deploy idle", "idle login.success siem-forwarder")
	// The new secret is the bound value from now on; the old one is refused.
	_, err = e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: another.ID, Name: "k", AccountID: acc.ID, Value: &acc.Secret})
	wantCode(t, err, backend.CodeStaleValue)

	// A retry with the same Idempotency-Key returns the same result and
	// rotates nothing, even though the version moved on.
	seq = e.lastSeq(t)
	again, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, ExpectedSecretVersion: 1, IdempotencyKey: "apply-1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Secret != r.Secret || again.SecretVersion != 2 {
		t.Errorf("replay = version %d, same secret %v", again.SecretVersion, again.Secret == r.Secret)
	}
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("replay changed something: %q", acts)
	}
}

// Each audit event carries the time it happened, so a rotation's deploy
// events say how long each app was down.
func TestRotationEventsReadTheClockPerEvent(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, _ := deployedWithSecret(t, e)
	ticking := func() time.Time { e.clock.Advance(time.Millisecond); return e.clock.Now() }
	s := NewService(e.st, e.box, Options{Now: ticking})
	seq := e.lastSeq(t)
	r, err := s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	var times []time.Time
	var deploy string
	for _, ev := range e.events(t) {
		if ev.Seq > seq {
			times = append(times, ev.Time)
			if ev.Action == backend.ActionAppDeploy {
				deploy = ev.Detail
			}
		}
	}
	for i := 1; i < len(times); i++ {
		if !times[i].After(times[i-1]) {
			t.Errorf("event times not read per event: %v", times)
		}
	}
	if !strings.Contains(deploy, "downtime_ms=") || strings.Contains(deploy, "downtime_ms=0.000") {
		t.Errorf("deploy detail = %q, want a downtime", deploy)
	}
}

func TestRegenerateWithStaleExpectedVersionChangesNothing(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	seq := e.lastSeq(t)
	_, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, ExpectedSecretVersion: 7, IdempotencyKey: "x"})
	wantCode(t, err, backend.CodeVersionMismatch)
	if !strings.Contains(err.Error(), "plan again") || !strings.Contains(err.Error(), "secret_version 1") {
		t.Errorf("message = %q", err)
	}
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("refusal changed something: %q", acts)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning {
		t.Errorf("app = %s", got.Status)
	}
	// The refusal started no rotation: the key is free for a new request.
	if rots := e.rotations(t, acc.ID); len(rots) != 0 {
		t.Errorf("rotations after refusal: %+v", rots)
	}
}

// A failed login as another account (a second key, locked) is that
// account's business: it does not undo the rotation.
func TestRotationSurvivesAnotherKeysFailure(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	second := e.account(t, "second")
	e.put(t, app.ID, "second", second.ID, nil)
	_ = e.s.Login(ctx, backend.LoginRequest{AccountID: second.ID, Secret: "wrong"}) // locks at threshold 1
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, ExpectedSecretVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	if got := e.getAccount(t, acc.ID); got.SecretVersion != 2 || got.Locked {
		t.Errorf("rotated account = %+v", got)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusFailed || !got.Deployed {
		t.Errorf("app = %s deployed %v; want deployed and failing on the locked second key", got.Status, got.Deployed)
	}
}

func TestExposeSecretFalseNeverReturnsTheSecret(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	no := false
	acc, err := e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "hidden", ExposeSecret: &no})
	if err != nil {
		t.Fatal(err)
	}
	if acc.Secret != "" || acc.ExposeSecret || !acc.HasSealedSecret {
		t.Fatalf("create = %+v, secret shown %v", acc.Account, acc.Secret != "")
	}
	app := e.app(t, "web", true)
	e.put(t, app.ID, "k", acc.ID, nil)
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning {
		t.Errorf("app bound to a hidden secret = %s", got.Status)
	}
	for range 2 { // the call, then its replay
		r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, IdempotencyKey: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Secret != "" || r.SecretVersion != 2 {
			t.Errorf("regenerate = version %d, secret shown %v", r.SecretVersion, r.Secret != "")
		}
	}
	// Turning it on is a rotation that shows the new secret.
	yes := true
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, ExposeSecret: &yes})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	if r.Secret == "" || !r.ExposeSecret || e.getApp(t, app.ID).Status != backend.StatusRunning {
		t.Errorf("regenerate with expose_secret = true: %+v, secret shown %v", r.Account, r.Secret != "")
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: acc.ID, Secret: r.Secret}); err != nil {
		t.Error(err)
	}
}

func TestBoundSecretValues(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)

	// The current secret as the value is accepted and changes nothing.
	seq := e.lastSeq(t)
	e.put(t, app.ID, "siem-forwarder", acc.ID, ptr(acc.Secret))
	e.put(t, app.ID, "siem-forwarder", acc.ID, nil)
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("storing what is stored = %q, want nothing", acts)
	}
	// Any other value is refused: it would lock the account.
	_, err := e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "siem-forwarder", AccountID: acc.ID, Value: ptr("ahk_not-the-secret")})
	wantCode(t, err, backend.CodeStaleValue)
	for _, want := range []string{`is not the current secret of API key account "siem-forwarder" (secret_version 1)`, "A bound secret needs no value: remove `value`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message = %q, want %q", err, want)
		}
	}
	// An unbound secret needs a value; with one it redeploys the app.
	_, err = e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "opaque"})
	wantCode(t, err, backend.CodeInvalid)
	seq = e.lastSeq(t)
	e.put(t, app.ID, "opaque", "", ptr("opaque-config-value"))
	want := []string{
		"terraform app.undeploy forwarder",
		"terraform app_secret.put forwarder/opaque",
		"terraform app.deploy forwarder",
		"forwarder login.success siem-forwarder",
	}
	e.wantActions(t, seq, want...)
	// Admin accounts are never bound.
	if _, err := e.s.CreateAdminAccount(ctx, adminID, "admin", "admin-secret-value-of-32-characters"); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "admin", AccountID: adminID})
	wantCode(t, err, backend.CodeInvalid)
}

// An account from a store written before sealed account secrets cannot fill
// a bound secret until its next rotation, and the error says so.
func TestAccountWithoutSealedSecret(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc := e.account(t, "old-key")
	err := e.st.Write(ctx, func(tx store.Tx) error {
		row, err := tx.GetAccount(ctx, acc.ID)
		if err != nil {
			return err
		}
		row.SealedSecret = nil
		return tx.UpdateAccount(ctx, row)
	})
	if err != nil {
		t.Fatal(err)
	}
	app := e.app(t, "web", true)
	_, err = e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "k", AccountID: acc.ID})
	wantCode(t, err, backend.CodeNoSealedSecret)
	if !strings.Contains(err.Error(), "Rotate that account once") {
		t.Errorf("message = %q", err)
	}
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	e.put(t, app.ID, "k", acc.ID, nil)
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning {
		t.Errorf("app = %s", got.Status)
	}
}

// Removing one of an app's two secrets leaves it deployed and running.
func TestDeleteOneOfTwoSecretsKeepsAppRunning(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	_, app := deployedWithSecret(t, e)
	second := e.account(t, "second")
	e.put(t, app.ID, "second", second.ID, nil)
	seq := e.lastSeq(t)
	if err := e.s.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "second"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"terraform app.undeploy forwarder",
		"terraform app_secret.delete forwarder/second",
		"terraform app.deploy forwarder",
		"forwarder login.success siem-forwarder",
	}
	e.wantActions(t, seq, want...)
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning || !got.Deployed || len(got.Secrets) != 1 {
		t.Errorf("app = %+v", got)
	}
}

func TestWrongKeyFileIsKeyFileError(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc := e.account(t, "k")
	app := e.app(t, "web", false)
	e.put(t, app.ID, "k", acc.ID, nil)

	other, err := secretbox.LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	s2 := NewService(e.st, other, Options{Now: e.clock.Now})
	seq := e.lastSeq(t)
	_, err = s2.DeployApp(ctx, app.ID)
	wantCode(t, err, backend.CodeKeyFile)
	if !strings.Contains(err.Error(), "restore the key file") {
		t.Errorf("message = %q", err)
	}
	// Nothing half-written: the deploy event and the status were rolled back.
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("audit after failed deploy = %q", acts)
	}
	if got := e.getApp(t, app.ID); got.Deployed || got.Status != backend.StatusStopped {
		t.Errorf("app after failed deploy = %+v", got)
	}
}

func TestFailedStepRollsBackEverything(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	seq := e.lastSeq(t)
	defer func() {
		e.st.failAudit = ""
		// Neither failure left an event of the steps it rolled back.
		for _, a := range e.actionsSince(t, seq) {
			if a == "terraform api_key_account.regenerate siem-forwarder" || a == "terraform app.delete forwarder" {
				t.Errorf("audit after failed changes = %q", e.actionsSince(t, seq))
			}
		}
	}()

	// DeleteApp fails at its last step: the undeploy and the secret deletion
	// before it must not remain.
	e.st.failAudit = backend.ActionAppDelete
	err := e.s.DeleteApp(ctx, app.ID)
	wantCode(t, err, backend.CodeInternal)
	if !errors.Is(err, errInjected) {
		t.Errorf("err = %v", err)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusRunning || len(got.Secrets) != 1 {
		t.Errorf("app after failed delete = %+v", got)
	}

	// A rotation fails in the store transaction of its regeneration: nothing
	// was regenerated (the driver stops there; see rotations_test.go for
	// what the next driver does).
	e.st.failAudit = backend.ActionAccountRegenerate
	_, err = e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, IdempotencyKey: "y"})
	wantCode(t, err, backend.CodeInternal)
	if got := e.getAccount(t, acc.ID); got.SecretVersion != 1 || got.Locked || got.FailedLoginAttempts != 0 {
		t.Errorf("account after failed regenerate = %+v", got)
	}
	e.st.failAudit = ""
}

// An admin account always shows a regenerated secret: its secret is never
// sealed, so a hidden one would leave nobody holding it.
func TestAdminRegenerateShowsTheSecret(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	if _, err := e.s.CreateAdminAccount(ctx, adminID, "admin", "admin-secret-value-of-32-characters"); err != nil {
		t.Fatal(err)
	}
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: adminID})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	if r.Secret == "" || !r.ExposeSecret || r.HasSealedSecret {
		t.Fatalf("admin regenerate = %+v, secret shown %v", r.Account, r.Secret != "")
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: adminID, Secret: r.Secret}); err != nil {
		t.Error(err)
	}
}

// A sealed copy that is not the account's current secret (an older server
// on the same store regenerated without resealing) is never used to fill a
// bound secret: the app would lock the account.
func TestStaleSealedCopyIsNotUsed(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc := e.account(t, "k")
	err := e.st.Write(ctx, func(tx store.Tx) error {
		row, err := tx.GetAccount(ctx, acc.ID)
		if err != nil {
			return err
		}
		row.SecretHash = hashSecret("ahk_regenerated-by-an-older-server")
		return tx.UpdateAccount(ctx, row)
	})
	if err != nil {
		t.Fatal(err)
	}
	app := e.app(t, "web", true)
	seq := e.lastSeq(t)
	_, err = e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "k", AccountID: acc.ID})
	wantCode(t, err, backend.CodeNoSealedSecret)
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("the refusal changed something: %q", acts)
	}
}
