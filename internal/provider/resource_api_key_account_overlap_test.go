package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var (
	strategyPath = tfjsonpath.New("rotation_strategy")
	periodPath   = tfjsonpath.New("overlap_period")
)

// wrapped matches the phrases in order, each with its spaces matching any
// run of white space: Terraform wraps the diagnostics it prints.
func wrapped(phrases ...string) *regexp.Regexp {
	parts := make([]string, len(phrases))
	for i, p := range phrases {
		parts[i] = strings.Join(strings.Fields(regexp.QuoteMeta(p)), `\s+`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, ".*"))
}

// checkNoRotation fails when the backend rotated, redeployed or resealed
// anything since *seq.
func (e *accEnv) checkNoRotation(seq *int64) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		for _, x := range ev {
			switch x.Action {
			case backend.ActionAccountRegenerate, backend.ActionRotationStart, backend.ActionAppDeploy,
				backend.ActionAppUndeploy, backend.ActionAppReload, backend.ActionAppSecretPut:
				return fmt.Errorf("a change of the rotation settings alone made a %s:\n%s", x.Action, auditLog(ev))
			}
		}
		return nil
	}
}

// TestAccAPIKeyAccount_rotationSettings: rotation_strategy and
// overlap_period default to stop_first and 15m, are set and changed in
// place without a rotation (no app secret touched, no app redeployed), read
// back, shown by the data sources, imported; "15m0s" for "15m" is no
// change; and bad values fail at plan time saying what to use.
func TestAccAPIKeyAccount_rotationSettings(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := func(settings string) string {
		return e.provider() + accKey("a", "key-a", "expose_secret = false\n  "+settings) + accAppBound("a1", "a") + `
data "apphost_api_key_account" "a" {
  name       = "key-a"
  depends_on = [apphost_api_key_account.a]
}

data "apphost_api_key_accounts" "all" {
  depends_on = [apphost_api_key_account.a]
}
`
	}
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			// Bad values fail at plan time, saying what to use.
			{
				Config:      config(`rotation_strategy = "rolling"`),
				ExpectError: wrapped(`Invalid rotation strategy`, `"rolling" is not a rotation strategy. Use "stop_first"`, `or "overlap"`),
			},
			{
				Config:      config(`overlap_period = "25h"`),
				ExpectError: wrapped(`"25h" is longer than 24h, the limit. Use a shorter duration`),
			},
			{
				Config:      config(`overlap_period = "15"`),
				ExpectError: wrapped(`"15" is not a duration`),
			},
			{
				Config: config(""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, strategyPath, knownvalue.StringExact("stop_first")),
					statecheck.ExpectKnownValue(keyA, periodPath, knownvalue.StringExact("15m")),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.a", strategyPath, knownvalue.StringExact("stop_first")),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.a", periodPath, knownvalue.StringExact("15m")),
				},
			},
			{
				PreConfig: e.mark(&seq),
				Config:    config(`rotation_strategy = "overlap"` + "\n  " + `overlap_period = "30m"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(1)),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionNoop),
						plancheck.ExpectResourceAction("apphost_app.a1", plancheck.ResourceActionNoop),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, strategyPath, knownvalue.StringExact("overlap")),
					statecheck.ExpectKnownValue(keyA, periodPath, knownvalue.StringExact("30m")),
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.a", strategyPath, knownvalue.StringExact("overlap")),
					statecheck.ExpectKnownValue("data.apphost_api_key_account.a", periodPath, knownvalue.StringExact("30m")),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.all",
						tfjsonpath.New("accounts").AtSliceIndex(0).AtMapKey("rotation_strategy"), knownvalue.StringExact("overlap")),
					statecheck.ExpectKnownValue("data.apphost_api_key_accounts.all",
						tfjsonpath.New("accounts").AtSliceIndex(0).AtMapKey("overlap_period"), knownvalue.StringExact("30m")),
					e.checkAccount("key-a", func(a *backend.Account) error {
						if a.RotationStrategy != backend.StrategyOverlap || a.OverlapPeriod != "30m0s" {
							return fmt.Errorf("the backend holds rotation_strategy %q, overlap_period %q; want overlap, 30m0s",
								a.RotationStrategy, a.OverlapPeriod)
						}
						return nil
					}),
					e.checkNoRotation(&seq),
				},
			},
			{
				// The same duration spelled otherwise: no change.
				Config: config(`rotation_strategy = "overlap"` + "\n  " + `overlap_period = "30m0s"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				ResourceName:            keyA,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"secret"},
			},
			{
				// Back to stop_first, and the default period: in place, no rotation.
				PreConfig: e.mark(&seq),
				Config:    config(`rotation_strategy = "stop_first"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(1)),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, strategyPath, knownvalue.StringExact("stop_first")),
					statecheck.ExpectKnownValue(keyA, periodPath, knownvalue.StringExact("15m")),
					e.checkNoRotation(&seq),
				},
			},
		},
	})
}

// overlapConfig is key-a with rotation_strategy overlap and the trigger,
// bound to the apps "zeta" (a restart), "alpha" (reload_signal SIGHUP) and
// "mid"; extra is added to key-a.
func overlapConfig(provider, trigger, extra string) string {
	app := func(name, settings string) string {
		return fmt.Sprintf(`
resource "apphost_app" %[1]q {
  name = %[1]q
  %[2]s
}

resource "apphost_app_secret" %[1]q {
  app_id             = apphost_app.%[1]s.id
  name               = apphost_api_key_account.a.name
  api_key_account_id = apphost_api_key_account.a.id
}
`, name, settings)
	}
	return provider + accKey("a", "key-a", "expose_secret = false\n  rotation_strategy = \"overlap\"\n  "+triggers(trigger)+"\n  "+extra) +
		app("zeta", "") + app("alpha", `reload_signal = "SIGHUP"`) + app("mid", "")
}

// TestAccAPIKeyAccount_overlapRotation: a trigger change of a key switched
// to overlap in the same apply, with three apps on the built-in App Host,
// is an in-place update that ends done: secret_version + 1, the same id, every app running, and an empty
// plan after; the rotation is recorded as overlap, its apps moved in name
// order, the reload_signal app reloaded, not restarted.
func TestAccAPIKeyAccount_overlapRotation(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	resource.UnitTest(t, overlapRotationCase(e, e.provider()))
}

// TestAccRemote_overlapRotation is TestAccAPIKeyAccount_overlapRotation
// through a server process (the rotation asked for over HTTP, the
// settings and the audit log read back over it), on SQLite and PostgreSQL.
func TestAccRemote_overlapRotation(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	for _, st := range remoteStores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newRemoteEnv(t, st)
			resource.Test(t, overlapRotationCase(e.accEnv, e.provider()))
		})
	}
}

// overlapRotationCase is the overlap rotation of key-a on e's backend with
// the provider block provider.
func overlapRotationCase(e *accEnv, provider string) resource.TestCase {
	var seq int64
	return resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{
				// stop_first first: the switch to overlap comes with the
				// rotation, which the apply carries out with it.
				Config: strings.Replace(overlapConfig(provider, "1", ""), `"overlap"`, `"stop_first"`, 1),
			},
			{
				PreConfig: e.mark(&seq),
				Config:    overlapConfig(provider, "2", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
						plancheck.ExpectResourceAction("apphost_app_secret.alpha", plancheck.ResourceActionNoop),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(keyA, strategyPath, knownvalue.StringExact("overlap")),
					statecheck.ExpectKnownValue("apphost_app.alpha", tfjsonpath.New("status"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue("apphost_app.mid", tfjsonpath.New("status"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue("apphost_app.zeta", tfjsonpath.New("status"), knownvalue.StringExact("running")),
					e.checkAccount("key-a", func(a *backend.Account) error {
						if a.SecretVersion != 2 || a.PendingSecretVersion != 0 || a.Locked || a.FailedLoginAttempts != 0 {
							return fmt.Errorf("account after the rotation: %+v", a)
						}
						return nil
					}),
					e.checkOverlapRotation(&seq, "alpha", "mid", "zeta"),
					e.checkNoFailedLogin(&seq),
				},
			},
		},
	}
}

// checkOverlapRotation checks the audit log since *seq: one rotation of
// key-a with strategy overlap that ended done, whose steps moved apps in
// that order, alpha by reload (no undeploy).
func (e *accEnv) checkOverlapRotation(seq *int64, apps ...string) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		start := find(ev, 0, action(backend.ActionRotationStart, "key-a"))
		end := find(ev, 0, action(backend.ActionRotationEnd, "key-a"))
		if start < 0 || end < 0 || !strings.Contains(ev[start].Detail, "strategy=overlap") ||
			!strings.Contains(ev[end].Detail, backend.RotationDone) {
			return fmt.Errorf("want a rotation.start with strategy=overlap and a rotation.end done:\n%s", auditLog(ev))
		}
		at := start
		for _, app := range apps {
			i := find(ev, at, func(x backend.AuditEvent) bool {
				return x.Action == backend.ActionRotationStep && strings.Contains(x.Detail, "app "+app+" ")
			})
			if i < 0 {
				return fmt.Errorf("want the apps moved in the order %v; no move of %s after event %d:\n%s", apps, app, at, auditLog(ev))
			}
			at = i
		}
		if find(ev, 0, action(backend.ActionAppUndeploy, "alpha")) >= 0 || find(ev, 0, action(backend.ActionAppReload, "alpha")) < 0 {
			return fmt.Errorf("want alpha (reload_signal) reloaded, not stopped:\n%s", auditLog(ev))
		}
		return nil
	}
}

// TestAccPlanText_overlapRotation: the plan's rotation warning of an
// overlap key says the strategy, the order in which the apps move (name
// order, the first the canary), that apps with a reload_signal are not
// restarted; and a plan warns when the bound apps' start_timeouts add up to
// more than overlap_period, both when the rotation is planned and when
// overlap_period is changed.
func TestAccPlanText_overlapRotation(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newAccEnv(t)
	w := newTFWorkdir(t)
	text := func(out string) string { return strings.Join(strings.Fields(out), " ") }

	w.write(overlapConfig(e.cliProvider(), "1", ""))
	w.run(nil, []string{"apply", "-auto-approve"})

	w.write(overlapConfig(e.cliProvider(), "2", ""))
	out, _ := w.run(nil, []string{"plan"})
	for _, want := range []string{
		`API key account "key-a" will be rotated`,
		"Strategy: overlap.",
		`in this order: alpha (the canary), mid, zeta.`,
		`These apps have a reload_signal and are not restarted: "alpha".`,
		"the key stays at secret_version 1",
	} {
		if !strings.Contains(text(out), want) {
			t.Errorf("the plan's rotation warning does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shorter than its apps' start_timeouts") {
		t.Errorf("three apps of 60s in 15m: want no overlap_period warning:\n%s", out)
	}
	noCLIName(t, out)

	// 3 x 60s is more than 2m: warned when the rotation is planned ...
	w.write(overlapConfig(e.cliProvider(), "2", `overlap_period = "2m"`))
	out, _ = w.run(nil, []string{"plan"})
	if want := `"alpha" 1m, "mid" 1m, "zeta" 1m, 3m in all, more than overlap_period (2m)`; !strings.Contains(text(out), want) ||
		!strings.Contains(text(out), `API key account "key-a": overlap_period is shorter than its apps' start_timeouts`) {
		t.Errorf("plan with overlap_period 2m: want the start_timeout warning with %q:\n%s", want, out)
	}
	// ... and when overlap_period alone changes.
	w.write(overlapConfig(e.cliProvider(), "1", `overlap_period = "2m"`))
	out, _ = w.run(nil, []string{"plan"})
	if !strings.Contains(text(out), "overlap_period is shorter than its apps' start_timeouts") || strings.Contains(out, "will be rotated") {
		t.Errorf("plan of overlap_period 2m alone: want the start_timeout warning and no rotation:\n%s", out)
	}
}

// TestAccAPIKeyAccount_overlapRolledBack, through the CLI with a real App
// Host (exec driver) connected to `serve` on the test's store: the canary
// (first in name order) exits when its secret file changes, so the overlap
// rotation rolls back. The apply fails naming the canary and its
// status_detail; the key is exactly as before (the same secret_version and
// secret in state and in the backend, nothing locked, the old secret still
// logs in); the other app never moved; both run again; the next plan rotates
// again; once the canary is fixed, the rotation ends done with an empty plan
// after.
func TestAccAPIKeyAccount_overlapRolledBack(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	for _, remote := range []bool{false, true} {
		name := "embedded"
		if remote {
			name = "remote"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			overlapRolledBack(t, remote)
		})
	}
}

// overlapRolledBack is TestAccAPIKeyAccount_overlapRolledBack with the
// provider's embedded backend on serve's store, or (remote) with the
// provider a client of serve.
func overlapRolledBack(t *testing.T, remote bool) {
	e := newAccEnv(t)
	w := newTFWorkdir(t)
	admin := newAdmin()
	server := startReplica(t, "sqlite:"+e.storePath, "", admin)
	provider, env := e.cliProvider(), []string(nil)
	if remote {
		provider = `
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {}
`
		env = remoteEnvVars(server.URL, admin)
	}
	text := func(out string) string { return strings.Join(strings.Fields(out), " ") }
	const (
		// The first secret it is given is the only one it runs with.
		picky = `["sh", "-c", "[ -f first ] || cp secrets/key first; if [ \"$(cat secrets/key)\" = \"$(cat first)\" ]; then exec sleep 600; fi; echo refuses the new secret >&2; exit 3"]`
		plain = `["sleep", "600"]`
	)
	hostKey := provider + accKey("edge", "edge-host", `app_host = "edge"`) + `
output "edge_id" {
  value = apphost_api_key_account.edge.id
}

output "edge_secret" {
  value     = apphost_api_key_account.edge.secret
  sensitive = true
}
`
	config := func(trigger, canaryCommand string) string {
		app := func(name, command string) string {
			return fmt.Sprintf(`
resource "apphost_app" %[1]q {
  name          = %[1]q
  app_host      = "edge"
  command       = %[2]s
  secret_names  = ["key"]
  start_timeout = "15s"
}

resource "apphost_app_secret" %[1]q {
  app_id             = apphost_app.%[1]s.id
  name               = "key"
  api_key_account_id = apphost_api_key_account.a.id
}
`, name, command)
		}
		return hostKey + accKey("a", "key-a", `rotation_strategy = "overlap"`+"\n  "+triggers(trigger)) + `
output "secret" {
  value     = apphost_api_key_account.a.secret
  sensitive = true
}

output "secret_version" {
  value = apphost_api_key_account.a.secret_version
}
` + app("a-canary", canaryCommand) + app("b-other", plain)
	}
	output := func(name string) string {
		out, _ := w.run(env, []string{"output", "-raw", name})
		return out
	}
	running := func(a *backend.App) error {
		if a.Status != backend.StatusRunning {
			return fmt.Errorf("status %s (%s)", a.Status, a.StatusDetail)
		}
		return nil
	}

	w.write(hostKey)
	w.run(env, []string{"apply", "-auto-approve"})
	startAppHost(t, server.URL, "edge", output("edge_id"), output("edge_secret"))
	e.awaitAppHostState("edge", backend.AppHostOnline, time.Minute)

	w.write(config("1", picky))
	w.run(env, []string{"apply", "-auto-approve"})
	for _, app := range []string{"a-canary", "b-other"} {
		e.awaitApp(app, time.Minute, running)
	}
	oldSecret, oldVersion := output("secret"), output("secret_version")
	if oldVersion != "1" || oldSecret == "" {
		t.Fatalf("before the rotation: secret_version %q, secret set %t", oldVersion, oldSecret != "")
	}

	// The canary refuses the new secret: rolled back, the apply fails.
	seq := e.lastSeq()
	w.write(config("2", picky))
	r := w.result(env, "apply", "-auto-approve")
	out := text(r.Output())
	if r.Code == 0 || !strings.Contains(out, `Rotation of API key account "key-a" rolled back`) ||
		!strings.Contains(out, `"a-canary"`) || !strings.Contains(out, "refuses the new secret") ||
		!strings.Contains(out, "The state keeps the key as it was (secret_version 1, the same secret)") {
		t.Fatalf("apply of a rotation whose canary fails: exit %d, want the rolled-back error naming a-canary and its status_detail:\n%s",
			r.Code, r.Output())
	}
	noCLIName(t, r.Output())
	// The resource's state, not the outputs (a failed apply leaves the
	// outputs it planned).
	if got := keyState(t, w, env); got.version != 1 || got.secret != oldSecret {
		t.Errorf("key-a in state after the rollback: secret_version %d, secret the same %t; want 1, true", got.version, got.secret == oldSecret)
	}
	acc, err := e.b.GetAccountByName(context.Background(), "key-a")
	if err != nil || acc.SecretVersion != 1 || acc.PendingSecretVersion != 0 || acc.Locked || acc.FailedLoginAttempts != 0 {
		t.Errorf("the account after the rollback: %+v (%v); want secret_version 1, no pending secret, not locked", acc, err)
	}
	if err := e.b.Login(context.Background(), backend.LoginRequest{AccountID: acc.ID, Secret: oldSecret}); err != nil {
		t.Errorf("the old secret no longer logs in after the rollback: %v", err)
	}
	ev, err := e.events(seq)
	if err != nil {
		t.Fatal(err)
	}
	if i := find(ev, 0, func(x backend.AuditEvent) bool {
		return x.Action == backend.ActionRotationStep && strings.Contains(x.Detail, "app b-other ")
	}); i >= 0 {
		t.Errorf("b-other moved, though the canary before it failed:\n%s", auditLog(ev))
	}
	if i := find(ev, 0, action(backend.ActionRotationEnd, "key-a")); i < 0 || !strings.Contains(ev[i].Detail, backend.RotationRolledBack) {
		t.Errorf("want a rotation.end rolled_back:\n%s", auditLog(ev))
	}
	for _, app := range []string{"a-canary", "b-other"} {
		e.awaitApp(app, time.Minute, running)
	}
	if out, _ := w.run(env, []string{"plan"}); !strings.Contains(out, `API key account "key-a" will be rotated`) {
		t.Errorf("plan after the rollback: want the rotation planned again:\n%s", out)
	}

	// Fixed: the rotation ends done.
	w.write(config("1", plain))
	w.run(env, []string{"apply", "-auto-approve"})
	w.write(config("2", plain))
	w.run(env, []string{"apply", "-auto-approve"})
	if got := keyState(t, w, env); got.version != 2 || got.secret == oldSecret || got.secret == "" {
		t.Errorf("key-a in state after the rotation: secret_version %d, secret new %t; want 2, true", got.version, got.secret != oldSecret)
	}
	if out, _ := w.run(env, []string{"plan", "-detailed-exitcode"}); !strings.Contains(out, "No changes") {
		t.Errorf("plan after the rotation: want no changes:\n%s", out)
	}
}

// keyState reads apphost_api_key_account.a's secret_version and secret
// from w's state.
func keyState(t *testing.T, w *tfWorkdir, env []string) (got struct {
	version int64
	secret  string
}) {
	t.Helper()
	out, _ := w.run(env, []string{"show", "-json"})
	var st tfjson.State
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("terraform show -json: %v", err)
	}
	for _, r := range st.Values.RootModule.Resources {
		if r.Address == keyA {
			v, _ := r.AttributeValues["secret_version"].(float64)
			got.version = int64(v)
			got.secret, _ = r.AttributeValues["secret"].(string)
			return got
		}
	}
	t.Fatalf("no %s in state:\n%s", keyA, out)
	return got
}
