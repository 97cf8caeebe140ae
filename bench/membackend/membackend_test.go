package membackend

import (
	"path/filepath"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestContract runs the backend contract suite against the floor: it must
// keep the semantics the provider's logic depends on.
func TestContract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Target {
		b := New("")
		return backendtest.Target{
			Backend: b,
			PlantStale: func(t *testing.T, appID, name, accountID string) {
				t.Helper()
				b.mu.Lock()
				defer b.mu.Unlock()
				s, ok := b.s.Secrets[appID][name]
				if !ok || s.AccountID != accountID {
					t.Fatalf("no app secret %s/%s bound to %s", appID, name, accountID)
				}
				s.Value = "ahk_a-stale-copy-of-an-old-secret"
			},
		}
	})
}

// TestRotationAndSnapshot walks a rotation as the provider drives it (bound
// secret with no value, one RegenerateSecret) and checks that a new process
// (a new Backend over the same file) sees it all.
func TestRotationAndSnapshot(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "mem.json")
	b := New(path)

	no := false
	acct, err := b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k", ExposeSecret: &no})
	if err != nil {
		t.Fatal(err)
	}
	if acct.Secret != "" {
		t.Fatal("create with expose_secret = false returned the secret")
	}
	app, err := b.CreateApp(ctx, backend.CreateAppRequest{Name: "a", Deployed: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "s", AccountID: acct.ID}); err != nil {
		t.Fatal(err)
	}
	re, err := b.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acct.ID, ExpectedSecretVersion: 1, IdempotencyKey: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if re.SecretVersion != 2 || re.Secret != "" {
		t.Fatalf("regenerate: version %d, secret shown %v", re.SecretVersion, re.Secret != "")
	}
	if _, err := b.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acct.ID, ExpectedSecretVersion: 1}); !backend.IsVersionMismatch(err) {
		t.Fatalf("a stale expected version: got %v, want %s", err, backend.CodeVersionMismatch)
	}
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}

	b2 := New(path)
	got, err := b2.GetAccount(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretVersion != 2 || got.ExposeSecret || len(got.Apps) != 1 || got.Apps[0] != "a" {
		t.Fatalf("after reload: version %d, expose %v, apps %v", got.SecretVersion, got.ExposeSecret, got.Apps)
	}
	// The reloaded floor still fills and rotates the bound secret: its app
	// logs in with the new secret at the next rotation.
	if _, err := b2.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acct.ID, ExpectedSecretVersion: 2}); err != nil {
		t.Fatal(err)
	}
	running := true
	apps, err := b2.ListApps(ctx, backend.ListAppsRequest{BoundToAccountID: acct.ID, Running: &running})
	if err != nil || len(apps) != 1 || apps[0].Status != backend.StatusRunning {
		t.Fatalf("after reload and a rotation: running bound apps %v, %v", apps, err)
	}
	events, err := b2.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var failures int
	for _, e := range events {
		if e.Action == backend.ActionLoginFailure {
			failures++
		}
	}
	if failures != 0 {
		t.Fatalf("%d failed logins after the reload", failures)
	}
	if err := b2.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: acct.ID}); !backend.IsInUse(err) {
		t.Fatalf("delete of a bound account: got %v, want %s", err, backend.CodeInUse)
	}
}
