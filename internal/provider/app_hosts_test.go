package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// TestAccAPIKeyAccount_appHost: an App Host account (app_host): create,
// import, the data sources that read it, the App Hosts data source (the
// real one, which has never connected, and the built-in one of "default"),
// an app on it (pending: its App Host never connected), a change of
// app_host replaces the account, and binding an app secret to it fails at
// plan time.
func TestAccAPIKeyAccount_appHost(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	const acct = "apphost_api_key_account.edge"
	hostKey := func(host string) string {
		return accKey("edge", "edge-host", `app_host = "`+host+`"
  expose_secret = false`)
	}
	apps := `
resource "apphost_app" "svc" {
  name     = "svc"
  app_host = apphost_api_key_account.edge.app_host
}

resource "apphost_app" "web" {
  name = "web"
}
`
	reads := `
data "apphost_api_key_account" "edge" {
  name       = apphost_api_key_account.edge.name
  depends_on = [apphost_app.svc, apphost_app.web]
}

data "apphost_api_key_accounts" "hosts" {
  name_regex = "-host$"
  depends_on = [apphost_api_key_account.edge]
}

data "apphost_app_hosts" "all" {
  depends_on = [apphost_app.svc, apphost_app.web]
}
`
	const ds = "data.apphost_app_hosts.all"
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: e.provider() + hostKey("edge") + apps + reads,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(acct, tfjsonpath.New("app_host"), knownvalue.StringExact("edge")),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.edge", tfjsonpath.New("app_host"), knownvalue.StringExact("edge")),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.hosts", tfjsonpath.New("accounts"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"name": knownvalue.StringExact("edge-host"), "app_host": knownvalue.StringExact("edge"),
						})})),
					// Its App Host never connected: the app waits, and the
					// create did not wait for it.
					statecheck.ExpectKnownValue("apphost_app.svc", tfjsonpath.New("status"), knownvalue.StringExact(backend.StatusPending)),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("app_hosts"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"name": knownvalue.StringExact("default"), "built_in": knownvalue.Bool(true),
							"state": knownvalue.StringExact(backend.AppHostBuiltIn), "address": knownvalue.StringExact(""),
							"instance_id": knownvalue.StringExact(""), "version": knownvalue.StringExact(""),
							"driver": knownvalue.StringExact(""), "last_report": knownvalue.StringExact(""),
							"forgotten": knownvalue.Bool(false),
							"apps":      knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("web")}),
						}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"name": knownvalue.StringExact("edge"), "built_in": knownvalue.Bool(false),
							"state":       knownvalue.StringExact(backend.AppHostUnknown),
							"last_report": knownvalue.StringExact(""),
							"apps":        knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("svc")}),
						}),
					})),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("names"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact("default"), knownvalue.StringExact("edge"),
					})),
				},
			},
			{ResourceName: acct, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"secret"}},
			{
				Config: e.provider() + hostKey("edge-2") + apps,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(acct, plancheck.ResourceActionReplace)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(acct, tfjsonpath.New("app_host"), knownvalue.StringExact("edge-2")),
					e.checkAccount("edge-host", func(a *backend.Account) error {
						if a.AppHost != "edge-2" {
							return fmt.Errorf("the account's app_host is %q, want edge-2", a.AppHost)
						}
						return nil
					}),
				},
			},
			{
				Config:      e.provider() + hostKey("edge 2") + apps,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid name.*app_host = "edge 2"`),
			},
			{
				Config: e.provider() + hostKey("edge-2") + apps + `
resource "apphost_app_secret" "web" {
  app_id             = apphost_app.web.id
  name               = "edge"
  api_key_account_id = apphost_api_key_account.edge.id
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)App Host account cannot be bound.*identity of App Host "edge-2"`),
			},
		},
	})
}
