package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// What a Terraform user meets at plan time (issue 16, findings 11 and 14),
// through the real CLI.

// cliProvider is the terraform block and e's provider block, for a tfWorkdir.
func (e *accEnv) cliProvider() string {
	return `
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}
` + e.provider()
}

// noCLIName fails t when out names the Terraform CLI in a command to run:
// under OpenTofu the command is tofu, so the provider's texts name none.
func noCLIName(t *testing.T, out string) {
	t.Helper()
	if m := regexp.MustCompile(`terraform (apply|plan|import|state|destroy|taint)`).FindString(strings.Join(strings.Fields(out), " ")); m != "" {
		t.Errorf("the output tells the user to run %q, which is tofu under OpenTofu:\n%s", m, out)
	}
}

// TestAccDestroy_keyBoundByAnotherConfiguration (finding 11): destroying a
// configuration whose key is bound by another configuration's app fails at
// plan time, naming that app and what to do, and destroys nothing; once the
// other configuration is gone, the destroy goes through.
func TestAccDestroy_keyBoundByAnotherConfiguration(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newAccEnv(t)
	owner, other := newTFWorkdir(t), newTFWorkdir(t)
	owner.write(e.cliProvider() + accKey("a", "key-a", "expose_secret = false") + accAppBound("a1", "a"))
	owner.run(nil, []string{"apply", "-auto-approve"})
	other.write(e.cliProvider() + `
data "apphost_api_key_account" "a" {
  name = "key-a"
}

resource "apphost_app" "b1" {
  name = "b1"
}

resource "apphost_app_secret" "b1" {
  app_id             = apphost_app.b1.id
  name               = "key-a"
  api_key_account_id = data.apphost_api_key_account.a.id
}
`)
	other.run(nil, []string{"apply", "-auto-approve"})

	seq := e.lastSeq()
	r := owner.result(nil, "destroy", "-auto-approve")
	text := strings.Join(strings.Fields(r.Output()), " ")
	if r.Code == 0 || !strings.Contains(text, `API key account "key-a" cannot be destroyed`) ||
		!strings.Contains(text, `in the apps "b1"`) || !strings.Contains(text, "removed block") {
		t.Fatalf("destroy of the key's configuration: exit %d, want a plan-time error naming app b1 and what to do:\n%s", r.Code, r.Output())
	}
	noCLIName(t, r.Output())
	if ev, err := e.events(seq); err != nil || len(ev) != 0 {
		t.Errorf("the refused destroy changed the backend (%v):\n%s", err, auditLog(ev))
	}

	other.run(nil, []string{"destroy", "-auto-approve"})
	owner.run(nil, []string{"destroy", "-auto-approve"})
	for _, n := range []string{"a1", "b1"} {
		if _, err := e.b.GetAppByName(context.Background(), n); !backend.IsNotFound(err) {
			t.Errorf("app %s still exists (%v)", n, err)
		}
	}
}

// TestAccPlanText_savedPlanApplied (finding 14): the rotation warning of a
// saved plan says "will be rotated" when planned; the apply of that plan,
// which plans the change once more, does not say it again after rotating.
func TestAccPlanText_savedPlanApplied(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newAccEnv(t)
	w := newTFWorkdir(t)
	w.write(rotationConfig(e.cliProvider(), "1"))
	w.run(nil, []string{"apply", "-auto-approve"})
	w.write(rotationConfig(e.cliProvider(), "2"))
	plan, _ := w.run(nil, []string{"plan", "-out", "tfplan"})
	if !strings.Contains(plan, `API key account "key-a" will be rotated`) {
		t.Fatalf("the plan does not warn of the rotation:\n%s", plan)
	}
	applied, _ := w.run(nil, []string{"apply", "tfplan"})
	if strings.Contains(applied, "will be rotated") {
		t.Errorf("after the rotation, the apply still says it will come:\n%s", applied)
	}
}

// TestAccPlanText_taintIsNotAClash (finding 14): the create that replaces a
// tainted key account (or app) does not warn that its name is taken: the
// name is its own.
func TestAccPlanText_taintIsNotAClash(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newAccEnv(t)
	w := newTFWorkdir(t)
	w.write(e.cliProvider() + accKey("a", "key-a", "expose_secret = false") + accAppBound("a1", "a"))
	w.run(nil, []string{"apply", "-auto-approve"})
	for _, addr := range []string{"apphost_api_key_account.a", "apphost_app.a1"} {
		w.run(nil, []string{"taint", addr})
		out, _ := w.run(nil, []string{"plan"})
		if !strings.Contains(out, addr+" is tainted") || strings.Contains(out, "is taken") {
			t.Errorf("plan after taint %s: want a replacement without a name-taken warning:\n%s", addr, out)
		}
		w.run(nil, []string{"untaint", addr})
		if out, _ := w.run(nil, []string{"plan", "-replace=" + addr}); strings.Contains(out, "is taken") {
			t.Errorf("plan -replace=%s: want a replacement without a name-taken warning:\n%s", addr, out)
		}
	}
}

// TestAccPlanText_workspaceStore (finding 14): a configured store_path that
// did not exist is created empty, and the plan warns that everything then
// looks deleted, showing one store per workspace.
func TestAccPlanText_workspaceStore(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	store := filepath.Join(t.TempDir(), "ws", "default.db")
	w := newTFWorkdir(t)
	w.write(fmt.Sprintf(`
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {
  store_path = %q
}

resource "apphost_api_key_account" "k" {
  name = "k"
}
`, store))
	out, _ := w.run(nil, []string{"plan"})
	text := strings.Join(strings.Fields(out), " ")
	if !strings.Contains(text, "New empty apphost store") || !strings.Contains(text, store) ||
		!strings.Contains(text, `.apphost/${terraform.workspace}.db`) {
		t.Errorf("a plan on a store_path that did not exist: want the warning that it was created empty:\n%s", out)
	}
	if _, err := os.Stat(store); err != nil {
		t.Fatalf("the store was not created: %v", err)
	}
	if out, _ := w.run(nil, []string{"plan"}); strings.Contains(out, "New empty apphost store") {
		t.Errorf("the store exists now, yet the plan warns again:\n%s", out)
	}
}

// TestAccPlanText_duplicateNames (finding 14): two resources of one
// configuration with the same name fail at plan time, not halfway through
// the apply.
func TestAccPlanText_duplicateNames(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config:      e.provider() + accKey("a", "same", "") + accKey("b", "same", ""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Two apphost_api_key_account resources are named "same".*search\s+the\s+configuration\s+for\s+name\s+=\s+"same"`),
			},
			{
				Config:      e.provider() + accApp("x", "") + strings.Replace(accApp("y", ""), `name = "y"`, `name = "x"`, 1),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Two apphost_app resources are named "x"`),
			},
		},
	})
}

// TestAccProvider_invalidEndpoint: the client's one check of the endpoint
// URL is reported on the endpoint attribute, saying what to set.
func TestAccProvider_invalidEndpoint(t *testing.T) {
	t.Parallel()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: `
provider "apphost" {
  endpoint       = "ftp://apphost.example.com"
  api_key_id     = "00000000-0000-4000-8000-000000000000"
  api_key_secret = "not-used"
}

resource "apphost_api_key_account" "k" {
  name = "k"
}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid apphost provider configuration.*"ftp://apphost.example.com" is not an\s+http://\s+or\s+https://\s+URL`),
			},
		},
	})
}
