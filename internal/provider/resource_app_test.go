package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

func accApp(label, extra string) string {
	return fmt.Sprintf(`
resource "apphost_app" %[1]q {
  name = %[1]q
  %[2]s
}
`, label, extra)
}

// TestAccApp: create, update (undeploy, change, deploy), import by ID and
// by name, drift (undeployed outside Terraform), destroy.
func TestAccApp(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	const app = "apphost_app.web"
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy: func(*terraform.State) error {
			if _, err := e.b.GetAppByName(context.Background(), "web"); !backend.IsNotFound(err) {
				return fmt.Errorf("app web still exists (%v)", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: e.provider() + accApp("web", `version = "1.0"`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("app_host"), knownvalue.StringExact("default")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("config"), knownvalue.Null()),
				},
			},
			{
				Config: e.provider() + accApp("web", `version = "1.1"
  app_host = "east"
  config   = { log_level = "debug" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("version"), knownvalue.StringExact("1.1")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("app_host"), knownvalue.StringExact("east")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("config"),
						knownvalue.MapExact(map[string]knownvalue.Check{"log_level": knownvalue.StringExact("debug")})),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("running")),
				},
			},
			{ResourceName: app, ImportState: true, ImportStateVerify: true},
			{ResourceName: app, ImportState: true, ImportStateId: "web", ImportStateVerify: true},
			{ResourceName: app, ImportState: true, ImportStateKind: resource.ImportBlockWithID},
			{
				PreConfig: func() {
					a, err := e.b.GetAppByName(context.Background(), "web")
					if err == nil {
						_, err = e.b.UndeployApp(context.Background(), a.ID)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: e.provider() + accApp("web", `version = "1.1"
  app_host = "east"
  config   = { log_level = "debug" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(app, tfjsonpath.New("deployed"), knownvalue.Bool(true)),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{e.checkAppRunning("web")},
			},
			{
				Config: e.provider() + accApp("web", `deployed = false`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("stopped")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("config"), knownvalue.Null()),
				},
			},
		},
	})
}
