package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// TestRotationDowntimeCannotBeSpoofed: an app version is free text, and it
// goes into the detail of every app.deploy event; one that reads
// "1, downtime_ms=987654.321" must not become the downtime the rotations
// page shows.
func TestRotationDowntimeCannotBeSpoofed(t *testing.T) {
	ctx := context.Background()
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	admin := backendtest.Bootstrap(t, svc)
	base := newServer(t, svc, &clock{t: time.Now()}, server.RateLimit{}, false)
	key, err := svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1, downtime_ms=987654.321", `2", downtime_ms=876543.21, x="`} {
		name := "app-" + v[:1]
		app, err := svc.CreateApp(ctx, backend.CreateAppRequest{Name: name, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "k", AccountID: key.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DeployApp(ctx, app.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.RegenerateSecret(ctx, backend.RegenerateRequest{ID: key.ID}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, base, nil)
	if resp := b.signIn(admin.ID, admin.Secret); resp.StatusCode != 303 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	resp, page := b.do("GET", "/console/rotations", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `class="downtime"`) {
		t.Fatalf("rotations page: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "987654") || strings.Contains(page, "876543") {
		t.Errorf("the rotations page shows a downtime taken from an app's version:\n%s", page)
	}
}

// An overlap rotation on the built-in App Host: the page says its strategy,
// each app moved to the new secret, and no downtime (never stopped).
func TestRotationsPageShowsOverlap(t *testing.T) {
	ctx := context.Background()
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	admin := backendtest.Bootstrap(t, svc)
	base := newServer(t, svc, &clock{t: time.Now()}, server.RateLimit{}, false)
	key, err := svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k", RotationStrategy: backend.StrategyOverlap})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b-app", "a-app"} {
		app, err := svc.CreateApp(ctx, backend.CreateAppRequest{Name: name, Deployed: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "k", AccountID: key.ID}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := svc.RegenerateSecret(ctx, backend.RegenerateRequest{ID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rotation.Strategy != backend.StrategyOverlap || res.Rotation.Outcome != backend.RotationDone || res.SecretVersion != 2 {
		t.Fatalf("rotation %+v, secret_version %d", res.Rotation, res.SecretVersion)
	}
	b := newBrowser(t, base, nil)
	if resp := b.signIn(admin.ID, admin.Secret); resp.StatusCode != 303 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	resp, page := b.do("GET", "/console/rotations", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("rotations page: %d", resp.StatusCode)
	}
	for _, want := range []string{"· overlap ·", "secret version 1 → 2", ">moved", "none (reloaded)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the rotations page does not show %q:\n%s", want, page)
		}
	}
	if a, b := strings.Index(page, ">a-app<"), strings.Index(page, ">b-app<"); a < 0 || b < a {
		t.Errorf("apps not in the order they moved (a-app, then b-app):\n%s", page)
	}
}
