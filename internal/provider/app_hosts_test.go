package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

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
  command  = ["svc"]
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
					statecheck.ExpectKnownValue("apphost_app.svc", tfjsonpath.New("status_detail"),
						knownvalue.StringRegexp(regexp.MustCompile(`waiting for App Host "edge" to connect`))),
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

// TestAccAppHost_deploys (issue 19), through the CLI, with a real App Host
// (`terraform-provider-apphost host`, exec driver) connected to `serve` on
// the test's store, which the embedded provider shares: an app on an App
// Host that has never connected is planned with a warning and created
// pending, not waited for; an app_host close to a real one's name warns of a
// typo; once the host connects the app runs; an update waits until it is
// running again; a start that fails is a warning naming the app and its
// status_detail, saved with status = "failed" and not tainted, and the next
// plan redeploys it in place; the timeouts block bounds the wait; an
// offline host is a plan warning.
func TestAccAppHost_deploys(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newAccEnv(t)
	w := newTFWorkdir(t)
	config := func(svc string) string {
		return e.cliProvider() + accKey("edge", "edge-host", `app_host = "edge"`) + `
output "edge_id" {
  value = apphost_api_key_account.edge.id
}

output "edge_secret" {
  value     = apphost_api_key_account.edge.secret
  sensitive = true
}
` + svc
	}
	svc := func(extra string) string {
		return fmt.Sprintf(`
resource "apphost_app" "svc" {
  name          = "svc"
  app_host      = "edge"
  start_timeout = "30s"
  %s
}

resource "apphost_app" "typo" {
  name     = "typo"
  app_host = "egde"
}

output "status" {
  value = apphost_app.svc.status
}
`, extra)
	}
	output := func(name string) string {
		out, _ := w.run(nil, []string{"output", "-raw", name})
		return out
	}
	status := func() string { return output("status") }
	text := func(out string) string { return strings.Join(strings.Fields(out), " ") }
	const (
		runs  = `command = ["sleep", "600"]`
		fails = `command = ["sh", "-c", "echo cannot start >&2; exit 3"]`
	)

	w.write(config(""))
	w.run(nil, []string{"apply", "-auto-approve"})

	// Never connected: a warning, and the app waits, pending.
	w.write(config(svc(runs)))
	out, _ := w.run(nil, []string{"apply", "-auto-approve"})
	if !strings.Contains(text(out), `App "svc": App Host "edge" has never connected`) ||
		!strings.Contains(text(out), `App "typo": App Host "egde" is the built-in one`) ||
		!strings.Contains(text(out), `Did you mean "edge"`) {
		t.Errorf("apply of an app on a host that never connected: want its warning, and the typo's:\n%s", out)
	}
	noCLIName(t, out)
	if got := status(); got != backend.StatusPending {
		t.Errorf("status = %q, want pending", got)
	}

	// It connects: the app starts by itself.
	server := startReplica(t, "sqlite:"+e.storePath, "", newAdmin())
	startAppHost(t, server.URL, "edge", output("edge_id"), output("edge_secret"))
	e.awaitApp("svc", time.Minute, func(a *backend.App) error {
		if a.Status != backend.StatusRunning {
			return fmt.Errorf("status %s (%s)", a.Status, a.StatusDetail)
		}
		return nil
	})
	if out, _ := w.run(nil, []string{"plan"}); strings.Contains(out, "Plan:") || strings.Contains(out, "never connected") {
		t.Errorf("plan once the app runs: want no change (the refresh reads it running) and no warning of its App Host:\n%s", out)
	}

	// An update waits until it runs again.
	w.write(config(svc(runs + `
  version = "2"`)))
	w.run(nil, []string{"apply", "-auto-approve"})
	if got := status(); got != backend.StatusRunning {
		t.Errorf("status after an update = %q, want running: the apply waits for it", got)
	}

	// A start that fails: a warning; failed, not tainted; the plan redeploys.
	w.write(config(svc(fails)))
	out, _ = w.run(nil, []string{"apply", "-auto-approve"})
	if !strings.Contains(text(out), `App "svc" did not start`) || !strings.Contains(text(out), "exited with code 3") ||
		!strings.Contains(text(out), "cannot start") || !strings.Contains(text(out), "not tainted") {
		t.Errorf("apply of a start that fails: want a warning with the app's status_detail:\n%s", out)
	}
	if got := status(); got != backend.StatusFailed {
		t.Errorf("status after a failed start = %q, want failed", got)
	}
	out, _ = w.run(nil, []string{"plan"})
	if !strings.Contains(text(out), "apphost_app.svc will be updated in-place") || strings.Contains(out, "tainted") ||
		!strings.Contains(text(out), `App "svc" failed: this plan redeploys it`) || !strings.Contains(text(out), "1 to change") {
		t.Errorf("plan after a failed start: want an in-place redeploy of the app, not tainted:\n%s", out)
	}
	seq := e.lastSeq()
	out, _ = w.run(nil, []string{"apply", "-auto-approve"})
	if !strings.Contains(text(out), `App "svc" did not start`) {
		t.Errorf("the redeploy of a failed app that fails again: want the warning again:\n%s", out)
	}
	if ev, err := e.events(seq); err != nil || find(ev, 0, action(backend.ActionAppStatus, "svc")) < 0 {
		t.Errorf("the redeploy did not start the app again (no new %s of svc, %v):\n%s", backend.ActionAppStatus, err, auditLog(ev))
	}

	// Fixed: it runs, and the plan is empty.
	w.write(config(svc(runs)))
	w.run(nil, []string{"apply", "-auto-approve"})
	if got := status(); got != backend.StatusRunning {
		t.Errorf("status after the fix = %q, want running", got)
	}
	if out, _ := w.run(nil, []string{"plan"}); !strings.Contains(out, "No changes") {
		t.Errorf("plan after the fix: want no changes:\n%s", out)
	}

	// The timeouts block bounds the wait: cut at 1s, before the app has
	// been up the 3s that make it healthy.
	w.write(config(svc(runs + `
  version = "3"
  timeouts {
    update = "1s"
  }`)))
	out, _ = w.run(nil, []string{"apply", "-auto-approve"})
	if !strings.Contains(text(out), `App "svc" did not start`) || !strings.Contains(text(out), "not running within the update timeout (1s") {
		t.Errorf("apply with timeouts { update = \"1s\" }: want the wait cut at 1s, with a warning:\n%s", out)
	}
	if got := status(); got != backend.StatusFailed {
		t.Errorf("status after the update timeout = %q, want failed", got)
	}

	// Offline (its server gone, so it cannot report): a plan warning.
	server.stop(t)
	e.awaitAppHostState("edge", backend.AppHostOffline, time.Minute)
	out, _ = w.run(nil, []string{"plan"})
	if !strings.Contains(text(out), `App "svc": App Host "edge" is offline`) || !strings.Contains(text(out), "app-hosts forget edge") {
		t.Errorf("plan with an offline App Host: want its warning:\n%s", out)
	}
}
