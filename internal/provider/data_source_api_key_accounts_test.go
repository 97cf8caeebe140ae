package provider

import (
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// dsAccountNames checks that a list of accounts holds exactly these names, in order.
func dsAccountNames(names ...string) knownvalue.Check {
	checks := make([]knownvalue.Check, len(names))
	for i, n := range names {
		checks[i] = knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact(n)})
	}
	return knownvalue.ListExact(checks)
}

func TestAccAPIKeyAccountsDataSource(t *testing.T) {
	f := newDSFixture(t)
	a := f.accounts

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: f.providerConfig() + `
data "apphost_api_key_accounts" "all" {}

data "apphost_api_key_accounts" "locked" {
  locked = true
}

data "apphost_api_key_accounts" "unlocked" {
  locked = false
}

data "apphost_api_key_accounts" "siem" {
  name_regex = "^siem-"
}

data "apphost_api_key_accounts" "unlocked_collectors" {
  locked     = false
  name_regex = "collector$"
}

data "apphost_api_key_accounts" "older_than_a_nanosecond" {
  older_than = "1ns"
}

data "apphost_api_key_accounts" "older_than_ten_years" {
  older_than = "87600h"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.all", tfjsonpath.New("accounts"),
						knownvalue.ListExact([]knownvalue.Check{
							knownvalue.ObjectExact(map[string]knownvalue.Check{
								"id":                    knownvalue.StringExact(a["backup-agent"].ID),
								"name":                  knownvalue.StringExact("backup-agent"),
								"locked":                knownvalue.Bool(true),
								"expose_secret":         knownvalue.Bool(true),
								"failed_login_attempts": knownvalue.Int64Exact(5),
								"secret_version":        knownvalue.Int64Exact(1),
								"secret_created_at":     knownvalue.StringRegexp(dsRFC3339),
								"app_host":              knownvalue.Null(),
								"rotation_strategy":     knownvalue.StringExact("stop_first"),
								"overlap_period":        knownvalue.StringExact("15m"),
								"apps":                  knownvalue.ListSizeExact(0),
							}),
							knownvalue.ObjectPartial(map[string]knownvalue.Check{
								"name": knownvalue.StringExact("billing-export"),
								"apps": knownvalue.ListSizeExact(0),
							}),
							knownvalue.ObjectPartial(map[string]knownvalue.Check{
								"name": knownvalue.StringExact("siem-collector"),
								"apps": knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("collector")}),
							}),
							knownvalue.ObjectExact(map[string]knownvalue.Check{
								"id":                    knownvalue.StringExact(a["siem-forwarder"].ID),
								"name":                  knownvalue.StringExact("siem-forwarder"),
								"locked":                knownvalue.Bool(false),
								"expose_secret":         knownvalue.Bool(true),
								"failed_login_attempts": knownvalue.Int64Exact(0),
								"secret_version":        knownvalue.Int64Exact(1),
								"secret_created_at":     knownvalue.StringRegexp(dsRFC3339),
								"app_host":              knownvalue.Null(),
								"rotation_strategy":     knownvalue.StringExact("stop_first"),
								"overlap_period":        knownvalue.StringExact("15m"),
								"apps":                  knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("forwarder")}),
							}),
						})),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.all", tfjsonpath.New("ids"),
						knownvalue.ListExact([]knownvalue.Check{
							knownvalue.StringExact(a["backup-agent"].ID),
							knownvalue.StringExact(a["billing-export"].ID),
							knownvalue.StringExact(a["siem-collector"].ID),
							knownvalue.StringExact(a["siem-forwarder"].ID),
						})),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.locked", tfjsonpath.New("accounts"),
						dsAccountNames("backup-agent")),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.locked", tfjsonpath.New("ids"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(a["backup-agent"].ID)})),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.unlocked", tfjsonpath.New("accounts"),
						dsAccountNames("billing-export", "siem-collector", "siem-forwarder")),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.siem", tfjsonpath.New("accounts"),
						dsAccountNames("siem-collector", "siem-forwarder")),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.unlocked_collectors", tfjsonpath.New("ids"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(a["siem-collector"].ID)})),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.older_than_a_nanosecond", tfjsonpath.New("accounts"),
						dsAccountNames("backup-agent", "billing-export", "siem-collector", "siem-forwarder")),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.older_than_ten_years", tfjsonpath.New("accounts"),
						knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.older_than_ten_years", tfjsonpath.New("ids"),
						knownvalue.ListSizeExact(0)),
					dsNoSecretInState(f.secrets()),
				},
			},
		},
	})
}

// TestAccAPIKeyAccountsDataSource_olderThanReadsTheProviderClock: older_than
// measures ages with the provider's clock, as every resource does. With the
// clock 31 days ahead every account is older than 30 days; by time.Now none
// is.
func TestAccAPIKeyAccountsDataSource_olderThanReadsTheProviderClock(t *testing.T) {
	f := newDSFixture(t)
	clock := &testClock{}
	clock.set(31 * 24 * time.Hour)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providersWithClock(clock.Now),
		Steps: []resource.TestStep{
			{
				Config: f.providerConfig() + `
data "apphost_api_key_accounts" "due" {
  older_than = "720h"
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.due", tfjsonpath.New("accounts"),
						dsAccountNames("backup-agent", "billing-export", "siem-collector", "siem-forwarder")),
				},
			},
		},
	})
}

func TestAccAPIKeyAccountsDataSource_invalidFilters(t *testing.T) {
	f := newDSFixture(t)

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: f.providerConfig() + `
data "apphost_api_key_accounts" "bad" {
  name_regex = "siem-(forwarder"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid regular expression.*with data.apphost_api_key_accounts.bad.*name_regex`),
			},
			{
				Config: f.providerConfig() + `
data "apphost_api_key_accounts" "bad" {
  older_than = "90d"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid duration.*with data.apphost_api_key_accounts.bad.*older_than`),
			},
			{
				// The post-test destroy needs a valid configuration.
				Config: f.providerConfig() + `
data "apphost_api_key_accounts" "ok" {
  name_regex = "^siem-"
  older_than = "1h"
}
`,
			},
		},
	})
}
