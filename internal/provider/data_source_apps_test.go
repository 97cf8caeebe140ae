package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// dsAppNames checks that a list of apps holds exactly these names, in order.
func dsAppNames(names ...string) knownvalue.Check {
	checks := make([]knownvalue.Check, len(names))
	for i, n := range names {
		checks[i] = knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact(n)})
	}
	return knownvalue.ListExact(checks)
}

func TestAccAppsDataSource(t *testing.T) {
	f := newDSFixture(t)
	apps := f.apps

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: f.providerConfig() + `
data "apphost_apps" "all" {}

data "apphost_apps" "deployed" {
  deployed = true
}

data "apphost_apps" "undeployed" {
  deployed = false
}

data "apphost_apps" "east" {
  app_host = "apphost-east"
}

data "apphost_apps" "deployed_on_default" {
  deployed = true
  app_host = "default"
}

data "apphost_apps" "nowhere" {
  app_host = "nowhere"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.apphost_apps.all", tfjsonpath.New("apps"),
						knownvalue.ListExact([]knownvalue.Check{
							knownvalue.ObjectExact(map[string]knownvalue.Check{
								"id":            knownvalue.StringExact(apps["billing"].ID),
								"name":          knownvalue.StringExact("billing"),
								"app_host":      knownvalue.StringExact("default"),
								"version":       knownvalue.StringExact("2.0.0"),
								"config":        knownvalue.MapSizeExact(0),
								"deployed":      knownvalue.Bool(true),
								"command":       knownvalue.ListSizeExact(0),
								"secret_names":  knownvalue.ListSizeExact(0),
								"stop_timeout":  knownvalue.StringExact("10s"),
								"start_timeout": knownvalue.StringExact("60s"),
								"reload_signal": knownvalue.Null(),
								"status":        knownvalue.StringExact(backend.StatusRunning),
								"status_detail": knownvalue.StringExact(""),
								"secrets":       knownvalue.ListSizeExact(0),
							}),
							knownvalue.ObjectPartial(map[string]knownvalue.Check{
								"name":     knownvalue.StringExact("collector"),
								"deployed": knownvalue.Bool(false),
								"status":   knownvalue.StringExact(backend.StatusStopped),
							}),
							knownvalue.ObjectExact(map[string]knownvalue.Check{
								"id":       knownvalue.StringExact(apps["forwarder"].ID),
								"name":     knownvalue.StringExact("forwarder"),
								"app_host": knownvalue.StringExact("apphost-east"),
								"version":  knownvalue.StringExact("1.2.0"),
								"config":   knownvalue.MapExact(map[string]knownvalue.Check{"log_level": knownvalue.StringExact("info")}),
								"deployed": knownvalue.Bool(true),
								"command": knownvalue.ListExact([]knownvalue.Check{
									knownvalue.StringExact("forwarder"), knownvalue.StringExact("--to"), knownvalue.StringExact("siem"),
								}),
								"secret_names":  knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("siem")}),
								"stop_timeout":  knownvalue.StringExact("5s"),
								"start_timeout": knownvalue.StringExact("2m"),
								"reload_signal": knownvalue.StringExact("SIGHUP"),
								"status":        knownvalue.StringExact(backend.StatusRunning),
								"status_detail": knownvalue.StringExact(""),
								"secrets": knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
									"name":               knownvalue.StringExact("siem"),
									"api_key_account_id": knownvalue.StringExact(f.accounts["siem-forwarder"].ID),
								})}),
							}),
						})),
					statecheck.ExpectKnownValue("data.apphost_apps.all", tfjsonpath.New("ids"),
						knownvalue.ListExact([]knownvalue.Check{
							knownvalue.StringExact(apps["billing"].ID),
							knownvalue.StringExact(apps["collector"].ID),
							knownvalue.StringExact(apps["forwarder"].ID),
						})),
					statecheck.ExpectKnownValue("data.apphost_apps.deployed", tfjsonpath.New("apps"), dsAppNames("billing", "forwarder")),
					statecheck.ExpectKnownValue("data.apphost_apps.undeployed", tfjsonpath.New("apps"), dsAppNames("collector")),
					statecheck.ExpectKnownValue("data.apphost_apps.undeployed", tfjsonpath.New("ids"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(apps["collector"].ID)})),
					statecheck.ExpectKnownValue("data.apphost_apps.east", tfjsonpath.New("apps"), dsAppNames("forwarder")),
					statecheck.ExpectKnownValue("data.apphost_apps.deployed_on_default", tfjsonpath.New("apps"), dsAppNames("billing")),
					statecheck.ExpectKnownValue("data.apphost_apps.nowhere", tfjsonpath.New("apps"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue("data.apphost_apps.nowhere", tfjsonpath.New("ids"), knownvalue.ListSizeExact(0)),
					dsNoSecretInState(f.secrets()),
				},
			},
		},
	})
}
