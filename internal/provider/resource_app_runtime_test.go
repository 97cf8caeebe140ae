package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// changeAppOutOfBand changes the app named name outside Terraform.
func (e *accEnv) changeAppOutOfBand(name string, change func(*backend.UpdateAppRequest)) func() {
	return func() {
		ctx := context.Background()
		a, err := e.b.GetAppByName(ctx, name)
		if err != nil {
			e.t.Fatalf("reading app %s: %v", name, err)
		}
		req := backend.UpdateAppRequest{
			ID: a.ID, Name: a.Name, AppHost: a.AppHost, Version: a.Version, Config: a.Config, Deployed: a.Deployed,
			SecretNames: a.SecretNames, AppRuntime: a.AppRuntime,
		}
		change(&req)
		if _, err := e.b.UpdateApp(ctx, req); err != nil {
			e.t.Fatalf("changing app %s: %v", name, err)
		}
	}
}

// checkApp checks the app named name in the backend.
func (e *accEnv) checkApp(name string, check func(*backend.App) error) backendCheck {
	return func() error {
		a, err := e.b.GetAppByName(context.Background(), name)
		if err != nil {
			return err
		}
		return check(a)
	}
}

// TestAccApp_runtime: command, stop_timeout, start_timeout, reload_signal and
// the timeouts block: create, import, update, drift (changed outside
// Terraform), and a timeout spelled another way that is the same duration
// plans nothing.
func TestAccApp_runtime(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	resource.UnitTest(t, appRuntimeCase(e, e.provider()))
}

// appRuntimeCase is TestAccApp_runtime on e's backend with the provider
// block provider (embedded, or a server in TestAccRemote_appRuntime).
func appRuntimeCase(e *accEnv, provider string) resource.TestCase {
	const app = "apphost_app.svc"
	config := func(extra string) string { return provider + accApp("svc", extra) }
	first := `command       = ["svc", "--listen", "127.0.0.1:8080"]
  stop_timeout  = "5s"
  start_timeout = "2m"
  reload_signal = "SIGHUP"
  timeouts {
    create = "3m"
    update = "4m"
  }`
	second := `command       = ["svc", "--verbose"]
  stop_timeout  = "1500ms"
  start_timeout = "90s"
  reload_signal = "SIGUSR2"`
	list := func(v ...string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(v))
		for i, s := range v {
			checks[i] = knownvalue.StringExact(s)
		}
		return knownvalue.ListExact(checks)
	}
	return resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: config(first),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("command"), list("svc", "--listen", "127.0.0.1:8080")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("stop_timeout"), knownvalue.StringExact("5s")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("start_timeout"), knownvalue.StringExact("2m")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("reload_signal"), knownvalue.StringExact("SIGHUP")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("secret_names"), knownvalue.Null()),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status_detail"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("timeouts"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"create": knownvalue.StringExact("3m"), "update": knownvalue.StringExact("4m"),
					})),
					e.checkApp("svc", func(a *backend.App) error {
						if !slices.Equal(a.Command, []string{"svc", "--listen", "127.0.0.1:8080"}) || a.StopTimeout != "5s" ||
							a.StartTimeout != "2m0s" || a.ReloadSignal != "SIGHUP" {
							return fmt.Errorf("the backend holds %+v", a.AppRuntime)
						}
						return nil
					}),
				},
			},
			{ResourceName: app, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"timeouts"}},
			{
				Config: config(second),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("command"), list("svc", "--verbose")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("stop_timeout"), knownvalue.StringExact("1500ms")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("start_timeout"), knownvalue.StringExact("90s")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("reload_signal"), knownvalue.StringExact("SIGUSR2")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("running")),
					e.checkApp("svc", func(a *backend.App) error {
						if !slices.Equal(a.Command, []string{"svc", "--verbose"}) || a.StopTimeout != "1.5s" ||
							a.StartTimeout != "1m30s" || a.ReloadSignal != "SIGUSR2" {
							return fmt.Errorf("the backend holds %+v", a.AppRuntime)
						}
						return nil
					}),
				},
			},
			// The import reads the backend's spelling: the same durations.
			{ResourceName: app, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"stop_timeout", "start_timeout"}},
			{
				// Drift: changed outside Terraform; the plan puts it back.
				PreConfig: e.changeAppOutOfBand("svc", func(r *backend.UpdateAppRequest) {
					r.Command, r.StartTimeout, r.ReloadSignal = []string{"other"}, "3m", ""
				}),
				Config: config(second),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(app, tfjsonpath.New("command"), list("svc", "--verbose")),
						plancheck.ExpectKnownValue(app, tfjsonpath.New("start_timeout"), knownvalue.StringExact("90s")),
						plancheck.ExpectKnownValue(app, tfjsonpath.New("reload_signal"), knownvalue.StringExact("SIGUSR2")),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				// The same durations spelled otherwise, no command: the
				// defaults are "10s" and "60s".
				Config: config(`stop_timeout = "10000ms"`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("command"), knownvalue.Null()),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("stop_timeout"), knownvalue.StringExact("10000ms")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("start_timeout"), knownvalue.StringExact("60s")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("reload_signal"), knownvalue.Null()),
				},
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{ResourceName: app, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"stop_timeout"}},
		},
	}
}

// TestAccApp_runtimeInvalid: bad runtime settings fail at plan time, on the
// attribute, before anything changes.
func TestAccApp_runtimeInvalid(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	before := e.lastSeq()
	step := func(extra, want string) resource.TestStep {
		return resource.TestStep{Config: e.provider() + accApp("svc", extra), PlanOnly: true, ExpectError: regexp.MustCompile(want)}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			step(`command = ["", "x"]`, `(?s)Invalid app command.*first element of command is the program`),
			step(`command = []`, `(?s)command.*at least 1`),
			step(`stop_timeout = "0s"`, `(?s)Invalid duration.*not a positive duration`),
			step(`start_timeout = "25h"`, `(?s)Invalid duration.*longer than 24h`),
			step(`start_timeout = "1500us"`, `(?s)Invalid duration.*whole number of milliseconds`),
			step(`reload_signal = "SIGKILL"`, `(?s)reload_signal.*SIGHUP`),
			step(`secret_names = ["has space"]`, `(?s)Invalid name`),
		},
	})
	if after := e.lastSeq(); after != before {
		t.Errorf("a refused plan changed the backend: audit seq %d -> %d", before, after)
	}
}

// TestAccApp_secretNames: an app whose secret_names are missing is pending
// (status_detail names the secret) and the create does not wait for it; it
// starts once, when the secret is put; import; drift (changed outside
// Terraform); removing secret_names restarts nothing.
func TestAccApp_secretNames(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	const app = "apphost_app.web"
	appBlock := func(names string) string {
		return fmt.Sprintf(`
resource "apphost_app" "web" {
  name         = "web"
  secret_names = %s
}
`, names)
	}
	secret := `
resource "apphost_app_secret" "web" {
  app_id             = apphost_app.web.id
  name               = "key-a"
  api_key_account_id = apphost_api_key_account.a.id
}
`
	key := accKey("a", "key-a", "expose_secret = false")
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				Config: e.provider() + key + appBlock(`["key-a"]`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("secret_names"),
						knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("key-a")})),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("pending")),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status_detail"),
						knownvalue.StringRegexp(regexp.MustCompile(`waiting for app secret "key-a"`))),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("deployed"), knownvalue.Bool(true)),
				},
			},
			{ResourceName: app, ImportState: true, ImportStateVerify: true},
			{
				PreConfig: e.mark(&seq),
				Config:    e.provider() + key + appBlock(`["key-a"]`) + secret,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					// The app's refresh after the apply finds it running.
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAppRunning("web"),
					e.checkDeploys(&seq, "web", 1),
				},
			},
			{
				// Drift: secret_names changed outside Terraform.
				PreConfig: e.changeAppOutOfBand("web", func(r *backend.UpdateAppRequest) { r.SecretNames = []string{"key-a", "other"} }),
				Config:    e.provider() + key + appBlock(`["key-a"]`) + secret,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(app, tfjsonpath.New("secret_names"),
							knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("key-a")})),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAppRunning("web"),
					statecheck.ExpectKnownValue(app, tfjsonpath.New("status"), knownvalue.StringExact("running")),
				},
			},
			{
				// Removing secret_names restarts nothing.
				PreConfig: e.mark(&seq),
				Config:    e.provider() + key + appBlock("null") + secret,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(app, tfjsonpath.New("secret_names"), knownvalue.Null()),
					e.checkAppRunning("web"),
					e.checkDeploys(&seq, "web", 0),
				},
			},
		},
	})
}

// checkDeploys checks that the audit log after seq has exactly n
// app.deploy events of app.
func (e *accEnv) checkDeploys(seq *int64, app string, n int) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		got := 0
		for _, x := range ev {
			if x.Action == backend.ActionAppDeploy && x.TargetName == app {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("want %d %s of %s, got %d:\n%s", n, backend.ActionAppDeploy, app, got, auditLog(ev))
		}
		return nil
	}
}

// deploysBetween returns the app.deploy events of app between the first
// events matching from and to, or an error when either is missing.
func deploysBetween(ev []backend.AuditEvent, app string, from, to func(backend.AuditEvent) bool) ([]string, error) {
	i := find(ev, 0, from)
	j := find(ev, max(i, 0), to)
	if i < 0 || j < 0 {
		return nil, fmt.Errorf("the audit log lacks the events around the gap:\n%s", auditLog(ev))
	}
	var out []string
	for _, x := range ev[i:j] {
		if x.Action == backend.ActionAppDeploy && x.TargetName == app {
			out = append(out, strings.TrimSpace(fmt.Sprintf("%d %s %s", x.Seq, x.Action, x.Detail)))
		}
	}
	return out, nil
}
