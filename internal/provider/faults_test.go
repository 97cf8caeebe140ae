package provider

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/server"
	"github.com/apphost/terraform-provider-apphost/testutil/faultproxy"
)

// TestAccFaults_rotationThroughFaultyNetwork runs rotations with the real
// Terraform CLI against a server behind a fault-injecting proxy: the answer
// of the regenerate is lost after the server did it, a reset and 503s hit
// the calls around it. Each apply succeeds, rotates exactly once (one
// regenerate event, secret_version +1), keeps the order, and locks nothing;
// the secret in state is the one the server holds (the apps log in with it).
func TestAccFaults_rotationThroughFaultyNetwork(t *testing.T) {
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	admin := backendtest.Bootstrap(t, svc)
	srv := httptest.NewServer(server.New(server.Config{Backend: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	proxy, err := faultproxy.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	t.Cleanup(func() {
		f := proxy.Faults()
		t.Logf("%d faults injected: %v", len(f), f)
		if len(f) != 8 {
			t.Errorf("%d faults injected, want 8: a rule did not fire, so its fault was not tested", len(f))
		}
	})

	e := &accEnv{t: t, b: svc}
	providerBlock := fmt.Sprintf(`
provider "apphost" {
  endpoint       = %[1]q
  api_key_id     = %[2]q
  api_key_secret = %[3]q
}
`, front.URL, admin.ID, admin.Secret)
	config := func(trigger string) string {
		return providerBlock + accKey("a", "key-a", triggers(trigger)) + accAppWithSecret("a1", "a") + accAppWithSecret("a2", "a")
	}
	regenerates := func(want int) backendCheck {
		return func() error {
			ev, err := svc.ListAuditEvents(context.Background(), backend.AuditQuery{})
			if err != nil {
				return err
			}
			n := 0
			for _, x := range ev {
				if x.Action == backend.ActionAccountRegenerate {
					n++
				}
			}
			if n != want {
				return fmt.Errorf("%d regenerate events in all, want %d:\n%s", n, want, auditLog(ev))
			}
			return nil
		}
	}
	healthy := e.checkAccount("key-a", func(a *backend.Account) error {
		if a.Locked || a.FailedLoginAttempts != 0 {
			return fmt.Errorf("key-a: locked %v, failed_login_attempts %d", a.Locked, a.FailedLoginAttempts)
		}
		return nil
	})
	const regen = "/v1/accounts/*/regenerate"
	var seq int64

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config("1")},
			{
				// The regenerate's answer is lost once: the retry carries the
				// same Idempotency-Key and gets the first result.
				PreConfig: func() {
					e.mark(&seq)()
					proxy.Add(faultproxy.Rule{Method: "POST", Path: regen, Kind: faultproxy.DropResponse})
				},
				Config: config("2"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
					regenerates(1), healthy,
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1", "a2"),
					e.checkAppRunning("a1"), e.checkAppRunning("a2"),
				},
			},
			{
				// 503s before the regenerate, a reset on the undeploying
				// delete of an app secret, a lost answer of a secret put
				// (which redeploys), a 503 on a read.
				PreConfig: func() {
					e.mark(&seq)()
					proxy.Add(faultproxy.Rule{Method: "POST", Path: regen, Kind: faultproxy.Status, Status: 503, Times: 2})
					proxy.Add(faultproxy.Rule{Method: "DELETE", Path: "/v1/apps/*/secrets/*", Kind: faultproxy.Reset})
					proxy.Add(faultproxy.Rule{Method: "PUT", Path: "/v1/apps/*/secrets/*", Kind: faultproxy.DropResponse})
					proxy.Add(faultproxy.Rule{Method: "GET", Path: "/v1/accounts/*", Kind: faultproxy.Status, Status: 503})
				},
				Config: config("3"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(3)),
					regenerates(2), healthy,
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1", "a2"),
					e.checkAppRunning("a1"), e.checkAppRunning("a2"),
				},
			},
			{
				// The regenerate's answer is lost twice in a row.
				PreConfig: func() {
					e.mark(&seq)()
					proxy.Add(faultproxy.Rule{Method: "POST", Path: regen, Kind: faultproxy.DropResponse, Times: 2})
				},
				Config: config("4"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(4)),
					regenerates(3), healthy,
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1", "a2"),
				},
			},
		},
	})
}
