package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

func TestAccAppDataSource(t *testing.T) {
	f := newDSFixture(t)
	fwd := f.apps["forwarder"]
	col := f.apps["collector"]

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: f.providerConfig() + `
data "apphost_app" "by_name" {
  name = "forwarder"
}

data "apphost_app" "by_id" {
  id = "` + col.ID + `"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("id"), knownvalue.StringExact(fwd.ID)),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("name"), knownvalue.StringExact("forwarder")),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("app_host"), knownvalue.StringExact("apphost-east")),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("version"), knownvalue.StringExact("1.2.0")),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("config"),
						knownvalue.MapExact(map[string]knownvalue.Check{"log_level": knownvalue.StringExact("info")})),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("deployed"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("status"), knownvalue.StringExact(backend.StatusRunning)),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("status_detail"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("command"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.StringExact("forwarder"), knownvalue.StringExact("--to"), knownvalue.StringExact("siem"),
					})),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("secret_names"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("siem")})),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("stop_timeout"), knownvalue.StringExact("5s")),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("start_timeout"), knownvalue.StringExact("2m")),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("reload_signal"), knownvalue.StringExact("SIGHUP")),
					statecheck.ExpectKnownValue("data.apphost_app.by_name", tfjsonpath.New("secrets"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
							"name":               knownvalue.StringExact("siem"),
							"api_key_account_id": knownvalue.StringExact(f.accounts["siem-forwarder"].ID),
						})})),

					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("name"), knownvalue.StringExact("collector")),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("app_host"), knownvalue.StringExact("apphost-west")),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("config"), knownvalue.MapSizeExact(0)),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("deployed"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("status"), knownvalue.StringExact(backend.StatusStopped)),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("command"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("secret_names"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("stop_timeout"), knownvalue.StringExact("10s")),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("start_timeout"), knownvalue.StringExact("60s")),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("reload_signal"), knownvalue.Null()),
					statecheck.ExpectKnownValue("data.apphost_app.by_id", tfjsonpath.New("secrets"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
							"name":               knownvalue.StringExact("siem"),
							"api_key_account_id": knownvalue.StringExact(f.accounts["siem-collector"].ID),
						})})),

					dsNoSecretInState(f.secrets()),
				},
			},
			{
				Config: f.providerConfig() + `
data "apphost_app" "a" {
  name = "forwardr"
}
`,
				ExpectError: regexp.MustCompile(`(?s)App not found.*No app is named "forwardr".*Did you mean\s+"forwarder"`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_app" "a" {
  id = "00000000-0000-0000-0000-000000000000"
}
`,
				ExpectError: regexp.MustCompile(`(?s)App not found.*No app has the ID`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_app" "a" {}
`,
				ExpectError: regexp.MustCompile(`(?s)Missing Attribute Configuration.*Exactly one of these attributes must be\s+configured: \[id,name\]`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_app" "a" {
  id   = "` + fwd.ID + `"
  name = "forwarder"
}
`,
				ExpectError: regexp.MustCompile(`(?s)Invalid Attribute Combination.*Exactly one of these attributes must be\s+configured: \[id,name\]`),
			},
			{
				// The post-test destroy needs a valid configuration.
				Config: f.providerConfig() + `
data "apphost_app" "a" {
  name = "forwarder"
}
`,
			},
		},
	})
}
