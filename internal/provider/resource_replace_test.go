package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// TestAccReplace: a taint (what -replace does) of a key account makes a new
// account with a new ID; its app secrets are replaced with it, so the apps
// are undeployed before the old account goes and deployed, logging in with
// the new key, after the new one comes. A taint of an app works the same
// way. The name check finds the object being replaced: a warning, not an error.
func TestAccReplace(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := e.provider() + accKey("a", "key-a", "expose_secret = false") + accAppBound("a1", "a") + accAppBound("a2", "a")
	newID := statecheck.CompareValue(compare.ValuesDiffer())
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config:            config,
				ConfigStateChecks: []statecheck.StateCheck{newID.AddStateValue(keyA, tfjsonpath.New("id"))},
			},
			{
				PreConfig: e.mark(&seq),
				Taint:     []string{keyA},
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectResourceAction("apphost_app_secret.a2", plancheck.ResourceActionDestroyBeforeCreate),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					newID.AddStateValue(keyA, tfjsonpath.New("id")),
					e.checkAppRunning("a1"),
					e.checkAppRunning("a2"),
					e.checkReplacedKeyOrder(&seq, "key-a", "a1", "a2"),
				},
			},
			{
				PreConfig: e.mark(&seq),
				Taint:     []string{"apphost_app.a1"},
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("apphost_app.a1", plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionNoop),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAppRunning("a1"),
					e.checkAppRunning("a2"),
					e.checkNoFailedLogin(&seq),
				},
			},
		},
	})
}

// checkReplacedKeyOrder checks a key's replacement in the audit log after
// seq: each app undeployed before the old account's delete, and logging in
// after the new account's create; no failed login.
func (e *accEnv) checkReplacedKeyOrder(seq *int64, key string, apps ...string) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		del := find(ev, 0, action(backend.ActionAccountDelete, key))
		create := find(ev, 0, action(backend.ActionAccountCreate, key))
		if del < 0 || create < del {
			return fmt.Errorf("want the old %s deleted, then the new one created:\n%s", key, auditLog(ev))
		}
		for _, app := range apps {
			undeploy := find(ev, 0, action(backend.ActionAppUndeploy, app))
			login := find(ev, create, loginBy(backend.ActionLoginSuccess, app))
			if undeploy < 0 || undeploy > del || login < 0 {
				return fmt.Errorf("app %s: want undeploy before the old key goes and a login after the new one comes:\n%s", app, auditLog(ev))
			}
		}
		return e.checkNoFailedLogin(seq)()
	}
}

// TestAccReplace_secretNames (issue 18): with its key's secret in the app's
// secret_names, a -replace of the key never starts the app without it: the
// audit log shows no app.deploy of the app between its app secret's delete
// and the new put, and one after. Without secret_names the behaviour is as
// documented: destroying an app secret deploys the app again, so it starts
// once without its secret in between. A new app with secret_names starts
// once, when its secrets are in; without, twice (at its create, and again
// for its secret).
func TestAccReplace_secretNames(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	resource.UnitTest(t, replaceSecretNamesCase(e, e.provider()))
}

// replaceSecretNamesCase is TestAccReplace_secretNames on e's backend with
// the provider block provider (embedded, or a server in
// TestAccRemote_replaceSecretNames).
func replaceSecretNamesCase(e *accEnv, provider string) resource.TestCase {
	config := provider + accKey("a", "key-a", "expose_secret = false") + `
resource "apphost_app" "waits" {
  name         = "waits"
  secret_names = [apphost_api_key_account.a.name]
}

resource "apphost_app_secret" "waits" {
  app_id             = apphost_app.waits.id
  name               = apphost_api_key_account.a.name
  api_key_account_id = apphost_api_key_account.a.id
}
` + accAppBound("plain", "a")
	gap := func(seq *int64, app string, want int) backendCheck {
		return func() error {
			ev, err := e.events(*seq)
			if err != nil {
				return err
			}
			deploys, err := deploysBetween(ev, app,
				action(backend.ActionAppSecretDelete, app+"/key-a"), action(backend.ActionAppSecretPut, app+"/key-a"))
			if err != nil {
				return err
			}
			if len(deploys) != want {
				return fmt.Errorf("app %s: want %d app.deploy between its app secret's delete and its new put, got %v:\n%s",
					app, want, deploys, auditLog(ev))
			}
			return nil
		}
	}
	var seq int64
	return resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				PreConfig: e.mark(&seq),
				Config:    config,
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAppRunning("waits"),
					e.checkAppRunning("plain"),
					e.checkDeploys(&seq, "waits", 1),
					e.checkDeploys(&seq, "plain", 2),
				},
			},
			{
				PreConfig: e.mark(&seq),
				Taint:     []string{keyA},
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectResourceAction("apphost_app_secret.waits", plancheck.ResourceActionDestroyBeforeCreate),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAppRunning("waits"),
					e.checkAppRunning("plain"),
					e.checkReplacedKeyOrder(&seq, "key-a", "waits", "plain"),
					gap(&seq, "waits", 0),
					gap(&seq, "plain", 1),
					e.checkDeploys(&seq, "waits", 1),
				},
			},
		},
	}
}
