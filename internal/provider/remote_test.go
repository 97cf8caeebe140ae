package provider

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// rotationConfig is the configuration of the rotation scenario: key A with
// apps a1 and a2, key B with app b1.
func rotationConfig(provider, trigger string) string {
	return provider + accKey("a", "key-a", triggers(trigger)+"\n  expose_secret = false") + accKey("b", "key-b", "expose_secret = false") +
		accAppBound("a1", "a") + accAppBound("a2", "a") + accAppBound("b1", "b")
}

// checkUntouched checks that the audit log after seq holds no event about
// key account key or app app (nor the app's own logins).
func (e *accEnv) checkUntouched(seq *int64, key, app string) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		for _, x := range ev {
			if x.TargetName == key || x.TargetName == app || strings.HasPrefix(x.TargetName, app+"/") || x.Actor == app {
				return fmt.Errorf("%s or app %s was touched:\n%s", key, app, auditLog(ev))
			}
		}
		return nil
	}
}

// TestAccRemote_rotationOrder is TestAccAPIKeyAccount_rotationOrder through
// a server process: the provider's HTTP client against `serve` on SQLite and
// on PostgreSQL, the order read back with GET /v1/audit.
func TestAccRemote_rotationOrder(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	for _, st := range remoteStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newRemoteEnv(t, st)
			resource.Test(t, rotationOrderCase(e.accEnv, e.provider()))
		})
	}
}

// TestAccRemote_appRuntime is TestAccApp_runtime through a server process:
// the new app attributes travel over HTTP and read back the same.
func TestAccRemote_appRuntime(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newRemoteEnv(t, remoteStores[0])
	resource.Test(t, appRuntimeCase(e.accEnv, e.provider()))
}

// TestAccRemote_replaceSecretNames is TestAccReplace_secretNames through a
// server process on SQLite and on PostgreSQL, the audit log read back with
// GET /v1/audit.
func TestAccRemote_replaceSecretNames(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	for _, st := range remoteStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newRemoteEnv(t, st)
			resource.Test(t, replaceSecretNamesCase(e.accEnv, e.provider()))
		})
	}
}

// TestAccRemote_outsideApp: through the server, an app bound to the key
// from outside the configuration is rotated with it, and a saved plan
// applied after another rotation fails with "plan again" and changes nothing.
func TestAccRemote_outsideApp(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newRemoteEnv(t, remoteStores[0])
	config := e.provider() + accKey("a", "key-a", triggers("1")+"\n  expose_secret = false") + accAppBound("a1", "a")
	rotated := strings.Replace(config, triggers("1"), triggers("2"), 1)
	var seq int64
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig: func() {
					ctx := t.Context()
					a, err := e.b.GetAccountByName(ctx, "key-a")
					if err != nil {
						t.Fatal(err)
					}
					app, err := e.b.CreateApp(ctx, backend.CreateAppRequest{Name: "rogue", Deployed: true})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := e.b.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "key-a", AccountID: a.ID}); err != nil {
						t.Fatal(err)
					}
					if app, err = e.b.GetApp(ctx, app.ID); err != nil || app.Status != backend.StatusRunning {
						t.Fatalf("rogue is not running: %+v %v", app, err)
					}
					e.mark(&seq)()
				},
				Config: rotated,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
					noSecret{},
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1", "rogue"),
					e.checkAppRunning("rogue"),
				},
			},
			{
				// Let the post-test destroy through: the key is in use while rogue is bound.
				PreConfig: func() { e.deleteApp("rogue") },
				Config:    rotated,
			},
		},
	})
}

// TestAccRemote_replicas: two server processes on one store. A rotation is
// planned through replica A into a saved plan, and the saved plan is applied
// through replica B (the endpoint comes from APPHOST_ENDPOINT, which a saved
// plan does not record). The server logs prove which replica served what;
// the audit log proves the order held.
func TestAccRemote_replicas(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	for _, st := range remoteStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			store, keyFile := st.open(t)
			admin := newAdmin()
			repA := startReplica(t, store, keyFile, admin)
			repB := startReplica(t, store, keyFile, admin)
			e := &accEnv{t: t, b: backendtest.NewClient(t, repB.URL, admin)}
			viaA, viaB := remoteEnvVars(repA.URL, admin), remoteEnvVars(repB.URL, admin)

			w := newTFWorkdir(t)
			provider := `
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {}

output "key_a_id" { value = apphost_api_key_account.a.id }
`
			w.write(rotationConfig(provider, "1"))
			w.run(viaA, []string{"apply", "-auto-approve"})
			before, err := e.b.GetAccountByName(t.Context(), "key-a")
			if err != nil {
				t.Fatal(err)
			}

			// Plan through A.
			w.write(rotationConfig(provider, "2"))
			seq := e.lastSeq()
			markA, markB := repA.logSize(), repB.logSize()
			w.run(viaA, []string{"plan", "-out", "tfplan"})
			if got := repB.requestsSince(markB); len(got) != 0 {
				t.Errorf("the plan reached replica B: %v", got)
			}
			if got := repA.requestsSince(markA); !slices.Contains(got, "GET /v1/accounts/"+before.ID) {
				t.Errorf("the plan did not refresh key-a through replica A: %v", got)
			}
			planned, _ := w.run(viaA, []string{"show", "-json", "tfplan"})
			checkPlannedActions(t, planned, map[string]string{
				keyA:                        "update",
				"apphost_app_secret.a1":     "no-op",
				"apphost_app_secret.a2":     "no-op",
				"apphost_api_key_account.b": "no-op",
				"apphost_app_secret.b1":     "no-op",
			})

			// Apply the saved plan through B.
			markA, markB = repA.logSize(), repB.logSize()
			w.run(viaB, []string{"apply", "tfplan"})
			if got := repA.requestsSince(markA); len(got) != 0 {
				t.Errorf("the apply reached replica A: %v", got)
			}
			if got := repB.requestsSince(markB); !slices.Contains(got, "POST /v1/accounts/"+before.ID+"/regenerate") {
				t.Errorf("replica B did not regenerate key-a: %v", got)
			}

			for _, check := range []backendCheck{
				e.checkRotationOrder(&seq, "key-a", "key-a", "a1", "a2"),
				e.checkUntouched(&seq, "key-b", "b1"),
				e.checkAppRunning("a1"),
				e.checkAppRunning("a2"),
				e.checkAccount("key-a", func(a *backend.Account) error {
					if a.ID != before.ID || a.SecretVersion != 2 || a.Locked || a.FailedLoginAttempts != 0 {
						return fmt.Errorf("key-a after the rotation: %+v (ID before %s)", a, before.ID)
					}
					return nil
				}),
			} {
				if err := check(); err != nil {
					t.Error(err)
				}
			}
			if id, _ := w.run(viaB, []string{"output", "-raw", "key_a_id"}); id != before.ID {
				t.Errorf("key-a's id in state is %q, want %q", id, before.ID)
			}
			// Nothing left to do, seen from either replica.
			w.run(viaB, []string{"plan", "-detailed-exitcode"})
			w.run(viaA, []string{"plan", "-detailed-exitcode"})
		})
	}
}

// checkPlannedActions checks the actions of `terraform show -json PLAN`.
func checkPlannedActions(t *testing.T, planJSON string, want map[string]string) {
	t.Helper()
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		t.Fatalf("reading the saved plan: %v", err)
	}
	got := map[string]string{}
	for _, rc := range plan.ResourceChanges {
		got[rc.Address] = strings.Join(rc.Change.Actions, ",")
	}
	for addr, actions := range want {
		if got[addr] != actions {
			t.Errorf("planned %s: %q, want %q (all: %v)", addr, got[addr], actions, got)
		}
	}
}
