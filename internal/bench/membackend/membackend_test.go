package membackend

import (
	"path/filepath"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// TestRotationAndSnapshot walks a rotation as the provider drives it and
// checks that a new process (a new Backend over the same file) sees it all.
func TestRotationAndSnapshot(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "mem.json")
	b := New(path)

	acct, err := b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := b.CreateApp(ctx, backend.CreateAppRequest{Name: "a", Deployed: true})
	if err != nil {
		t.Fatal(err)
	}
	v := acct.Secret
	if _, err := b.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "s", AccountID: acct.ID, Value: &v, Redeploy: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acct.ID, RefuseIfAppsRunning: true}); !backend.IsAppsRunning(err) {
		t.Fatalf("regenerate with a running app: got %v, want apps_running", err)
	}
	if err := b.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "s", Undeploy: true}); err != nil {
		t.Fatal(err)
	}
	re, err := b.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acct.ID, RefuseIfAppsRunning: true, IdempotencyKey: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if re.SecretVersion != 2 || re.Secret == acct.Secret {
		t.Fatalf("regenerate: version %d, secret changed %v", re.SecretVersion, re.Secret != acct.Secret)
	}
	if again, _ := b.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acct.ID, IdempotencyKey: "x"}); again.Secret != re.Secret {
		t.Fatal("a repeated idempotency key regenerated again")
	}
	v = re.Secret
	if _, err := b.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "s", AccountID: acct.ID, Value: &v, Redeploy: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Login(ctx, backend.LoginRequest{AccountID: acct.ID, Secret: re.Secret}); err != nil {
		t.Fatalf("login with the new secret: %v", err)
	}
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}

	b2 := New(path)
	got, err := b2.GetAccount(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretVersion != 2 || len(got.Apps) != 1 || got.Apps[0] != "a" {
		t.Fatalf("after reload: version %d, apps %v", got.SecretVersion, got.Apps)
	}
	running := true
	apps, err := b2.ListApps(ctx, backend.ListAppsRequest{BoundToAccountID: acct.ID, Running: &running})
	if err != nil || len(apps) != 1 || apps[0].Status != backend.StatusRunning {
		t.Fatalf("after reload: running bound apps %v, %v", apps, err)
	}
	if err := b2.Login(ctx, backend.LoginRequest{AccountID: acct.ID, Secret: re.Secret}); err != nil {
		t.Fatalf("login after reload: %v", err)
	}
	if _, err := b2.GetApp(ctx, "nope"); !backend.IsNotFound(err) {
		t.Fatalf("missing app: got %v, want not_found", err)
	}
}
