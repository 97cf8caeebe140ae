package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// TestAccAppSecret: import (command and import block), drift (deleted
// outside Terraform, recreated), binding only, destroy undeploys.
func TestAccAppSecret(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	const sec = "apphost_app_secret.a1"
	config := e.provider() + accKey("a", "key-a", "") + accAppWithSecret("a1", "a")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy: func(*terraform.State) error {
			if _, err := e.b.GetAppByName(context.Background(), "a1"); !backend.IsNotFound(err) {
				return fmt.Errorf("app a1 still exists (%v)", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(sec, tfjsonpath.New("id"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f-]{36}/key-a$`))),
					e.checkAppRunning("a1"),
				},
			},
			{ResourceName: sec, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"value"}},
			{
				ResourceName: sec, ImportState: true, ImportStateId: "a1/key-a",
				ImportStateVerify: true, ImportStateVerifyIgnore: []string{"value"},
			},
			{
				PreConfig: func() {
					ctx := context.Background()
					a, err := e.b.GetAppByName(ctx, "a1")
					if err == nil {
						err = e.b.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: a.ID, Name: "key-a"})
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(sec, plancheck.ResourceActionCreate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{e.checkAppRunning("a1")},
			},
			{
				// Binding only: the value stays as stored.
				Config: e.provider() + accKey("a", "key-a", "") + `
resource "apphost_app" "a1" {
  name = "a1"
}

resource "apphost_app_secret" "a1" {
  app_id             = apphost_app.a1.id
  name               = "key-a"
  api_key_account_id = apphost_api_key_account.a.id
}
`,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(sec, plancheck.ResourceActionUpdate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{e.checkAppRunning("a1")},
			},
			{
				ResourceName:    sec,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithID,
			},
		},
	})
}

// TestAccAppSecret_writeOnly: value_wo with value_wo_version =
// secret_version (the first design's pattern) still works: the rotation
// plans an in-place update of the app secret that changes nothing in the
// backend, and the app logs in with the new secret.
func TestAccAppSecret_writeOnly(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := func(trigger string) string {
		return e.provider() + accKey("a", "key-a", triggers(trigger)) + `
resource "apphost_app" "a1" {
  name = "a1"
}

resource "apphost_app_secret" "a1" {
  app_id             = apphost_app.a1.id
  name               = apphost_api_key_account.a.name
  api_key_account_id = apphost_api_key_account.a.id
  value_wo           = apphost_api_key_account.a.secret
  value_wo_version   = apphost_api_key_account.a.secret_version
}
`
	}
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: config("1"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("apphost_app_secret.a1", tfjsonpath.New("value_wo"), knownvalue.Null()),
					statecheck.ExpectKnownValue("apphost_app_secret.a1", tfjsonpath.New("value_wo_version"), knownvalue.Int64Exact(1)),
					e.checkAppRunning("a1"),
				},
			},
			{
				PreConfig: e.mark(&seq),
				Config:    config("2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue("apphost_app_secret.a1", tfjsonpath.New("value_wo_version"), knownvalue.Int64Exact(2)),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1"),
					e.checkAppRunning("a1"),
					e.checkPutsOnce(&seq, "a1/key-a"),
				},
			},
		},
	})
}

// checkPutsOnce checks that the audit log after seq has exactly one put of
// the app secret target: the rotation's, none from the app secret's update.
func (e *accEnv) checkPutsOnce(seq *int64, target string) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		n := 0
		for _, x := range ev {
			if x.Action == backend.ActionAppSecretPut && x.TargetName == target {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("want one put of %s (the rotation's), got %d:\n%s", target, n, auditLog(ev))
		}
		return nil
	}
}

// TestAccAppSecret_boundTwoKeys: an app with secrets bound to two keys;
// removing one leaves the app deployed and running; a bound value that is
// not the key's current secret is refused with the error that says to
// remove it.
func TestAccAppSecret_boundTwoKeys(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	second := func(extra string) string {
		return fmt.Sprintf(`
resource "apphost_app_secret" "a1_b" {
  app_id             = apphost_app.a1.id
  name               = "key-b"
  api_key_account_id = apphost_api_key_account.b.id
  %s
}
`, extra)
	}
	base := e.provider() + accKey("a", "key-a", "") + accKey("b", "key-b", "") + accAppBound("a1", "a")
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: base + second(""), ConfigStateChecks: []statecheck.StateCheck{e.checkAppRunning("a1")}},
			{
				Config:      base + second(`value = "ahk_not-the-current-secret"`),
				ExpectError: regexp.MustCompile(`(?s)Remove\s+value.*is\s+not\s+the\s+current\s+secret\s+of\s+API\s+key\s+account\s+"key-b"`),
			},
			{
				PreConfig: e.mark(&seq),
				Config:    base,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("apphost_app_secret.a1_b", plancheck.ResourceActionDestroy),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAppRunning("a1"),
					backendCheck(func() error {
						ev, err := e.events(seq)
						if err != nil {
							return err
						}
						del := find(ev, 0, action(backend.ActionAppSecretDelete, "a1/key-b"))
						deploy := find(ev, max(del, 0), action(backend.ActionAppDeploy, "a1"))
						login := find(ev, max(deploy, 0), loginBy(backend.ActionLoginSuccess, "a1"))
						if del < 0 || deploy < 0 || login < 0 {
							return fmt.Errorf("want the app redeployed after its secret went:\n%s", auditLog(ev))
						}
						return nil
					}),
				},
			},
		},
	})
}

// TestAccAppSecret_invalidConfig: value and value_wo conflict, and
// value_wo needs value_wo_version.
func TestAccAppSecret_invalidConfig(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: e.provider() + `
resource "apphost_app_secret" "x" {
  app_id   = "00000000-0000-0000-0000-000000000000"
  name     = "k"
  value    = "a"
  value_wo = "b"
  value_wo_version = 1
}
`,
				ExpectError: regexp.MustCompile(`Invalid Attribute Combination`),
			},
			{
				Config: e.provider() + `
resource "apphost_app_secret" "x" {
  app_id   = "00000000-0000-0000-0000-000000000000"
  name     = "k"
  value_wo = "b"
}
`,
				ExpectError: regexp.MustCompile(`Invalid Attribute Combination`),
			},
			{
				Config: e.provider() + `
resource "apphost_app_secret" "x" {
  app_id = "00000000-0000-0000-0000-000000000000"
  name   = "k"
}
`,
				ExpectError: regexp.MustCompile(`Unbound app secret needs a value`),
			},
		},
	})
}
