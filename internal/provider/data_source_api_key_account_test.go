package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func TestAccAPIKeyAccountDataSource(t *testing.T) {
	f := newDSFixture(t)
	fwd := f.accounts["siem-forwarder"]
	locked := f.accounts["backup-agent"]

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: f.providerConfig() + `
data "apphost_api_key_account" "by_name" {
  name = "siem-forwarder"
}

data "apphost_api_key_account" "by_id" {
  id = "` + locked.ID + `"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("id"), knownvalue.StringExact(fwd.ID)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("name"), knownvalue.StringExact("siem-forwarder")),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("description"), knownvalue.StringExact("Forwards events to the SIEM")),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("locked"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("failed_login_attempts"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("secret_version"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("secret_created_at"), knownvalue.StringRegexp(dsRFC3339)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("admin"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("app_host"), knownvalue.Null()),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_name", tfjsonpath.New("apps"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("forwarder")})),

					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_id", tfjsonpath.New("id"), knownvalue.StringExact(locked.ID)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_id", tfjsonpath.New("name"), knownvalue.StringExact("backup-agent")),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_id", tfjsonpath.New("locked"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_id", tfjsonpath.New("failed_login_attempts"), knownvalue.Int64Exact(5)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.by_id", tfjsonpath.New("apps"), knownvalue.ListSizeExact(0)),

					dsNoSecretInState(f.secrets()),
				},
			},
		},
	})
}

func TestAccAPIKeyAccountDataSource_errors(t *testing.T) {
	f := newDSFixture(t)

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				// Not found by name: the error names the near matches.
				Config: f.providerConfig() + `
data "apphost_api_key_account" "k" {
  name = "siem-forwarde"
}
`,
				ExpectError: regexp.MustCompile(`(?s)API key account not found.*No API key account is named\s+"siem-forwarde".*Did you mean\s+"siem-forwarder"`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_api_key_account" "k" {
  name = "payroll"
}
`,
				ExpectError: regexp.MustCompile(`(?s)No API key account is named "payroll".*No API key account has a\s+similar name`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_api_key_account" "k" {
  id = "00000000-0000-0000-0000-000000000000"
}
`,
				ExpectError: regexp.MustCompile(`(?s)No API key account has the ID\s+"00000000-0000-0000-0000-000000000000"`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_api_key_account" "k" {}
`,
				ExpectError: regexp.MustCompile(`(?s)Missing Attribute Configuration.*Exactly one of these attributes must be\s+configured: \[id,name\]`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_api_key_account" "k" {
  id   = "` + f.accounts["siem-forwarder"].ID + `"
  name = "siem-forwarder"
}
`,
				ExpectError: regexp.MustCompile(`(?s)Invalid Attribute Combination.*Exactly one of these attributes must be\s+configured: \[id,name\]`),
			},
			{
				// The post-test destroy needs a valid configuration.
				Config: f.providerConfig() + `
data "apphost_api_key_account" "k" {
  name = "siem-forwarder"
}
`,
			},
		},
	})
}
