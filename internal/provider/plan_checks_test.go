package provider

import (
	"context"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// Bad input fails at plan time, on the attribute at fault, before anything changes.
func TestAccPlanChecks_badInput(t *testing.T) {
	e := newAccEnv(t)
	before := e.lastSeq()

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: e.provider() + `
resource "apphost_api_key_account" "k" {
  name = "has spaces"
}`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid name.*must start with a letter or digit`),
			},
			{
				Config: e.provider() + `
resource "apphost_app_secret" "s" {
  app_id             = "00000000-0000-4000-8000-000000000000"
  name               = "key"
  api_key_account_id = "00000000-0000-4000-8000-000000000001"
}`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)App not found.*API key account not found|API key account not found.*App not found`),
			},
			{
				// The hint names the key account's resource, not the app's.
				Config: e.provider() + accApp("a", "") + `
resource "apphost_app_secret" "s" {
  app_id             = apphost_app.a.id
  name               = "key"
  api_key_account_id = "00000000-0000-4000-8000-000000000001"
}`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)API key account not found.*apphost_api_key_account\.<name>\.id`),
			},
			{
				Config: e.provider() + `
resource "apphost_api_key_account" "k" {
  name            = "fine"
  rotation_period = "30d"
}`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid duration.*days\s+are\s+not\s+a\s+unit`),
			},
		},
	})

	if after := e.lastSeq(); after != before {
		t.Errorf("a refused plan changed the backend: audit seq %d -> %d", before, after)
	}
}

// A name taken by another object is a plan-time warning on create (a
// replacement cannot be told from a clash) and an apply-time error, on the
// attribute, when it is still taken then; nothing is created.
func TestAccPlanChecks_nameTaken(t *testing.T) {
	e := newAccEnv(t)
	ctx := context.Background()
	if _, err := e.b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "taken"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.CreateApp(ctx, backend.CreateAppRequest{Name: "taken-app", AppHost: "default"}); err != nil {
		t.Fatal(err)
	}
	before := e.lastSeq()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: e.provider() + `
resource "apphost_api_key_account" "k" {
  name = "taken"
}`,
				ExpectError: regexp.MustCompile(`(?s)Error creating API key account.*already exists`),
			},
			{
				Config: e.provider() + `
resource "apphost_app" "a" {
  name = "taken-app"
}`,
				ExpectError: regexp.MustCompile(`(?s)already exists`),
			},
		},
	})
	if after := e.lastSeq(); after != before {
		t.Errorf("a refused create changed the backend: audit seq %d -> %d", before, after)
	}
}
