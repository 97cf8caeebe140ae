package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// embeddedConfig starts a configuration on the embedded store in the
// working directory.
const embeddedConfig = `terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {
  store_path = ".apphost/apphost.db"
}
`

// TestImportAndRotateInOneApply: import blocks for a key, its app and the
// app's bound secret, and a rotation trigger on the key, in one apply: the
// imports land, the key rotates in one backend operation, the app runs on
// the new secret with no failed login, and the next plan is empty. (With
// the first design, which took its order from Terraform's graph, imported
// objects carried no dependencies and this failed 1 run in 4.)
func TestImportAndRotateInOneApply(t *testing.T) {
	tfcli.Require(t)
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, ".apphost", "apphost.db")
	b := openStore(ctx, t, store)
	key := must(b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "siem-forwarder"}))(t)
	app := must(b.CreateApp(ctx, backend.CreateAppRequest{Name: "siem-east", Deployed: true}))(t)
	must(b.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "api-key", AccountID: key.ID}))(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "main.tf", embeddedConfig+`
import {
  to = apphost_api_key_account.siem
  id = "siem-forwarder"
}

import {
  to = apphost_app.east
  id = "siem-east"
}

import {
  to = apphost_app_secret.east
  id = "siem-east/api-key"
}

resource "apphost_api_key_account" "siem" {
  name              = "siem-forwarder"
  rotation_triggers = { quarter = "2026-Q4" }
  expose_secret     = false
}

resource "apphost_app" "east" {
  name = "siem-east"
}

resource "apphost_app_secret" "east" {
  app_id             = apphost_app.east.id
  name               = "api-key"
  api_key_account_id = apphost_api_key_account.siem.id
}
`)
	seq := lastSeq(ctx, t, store)
	r := tfcli.Run(t, dir, "apply", "-auto-approve")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Resources: 3 imported, 0 added, 1 changed, 0 destroyed.") {
		t.Fatalf("apply of the imports and the rotation: %s", r)
	}
	ev := eventsAfter(ctx, t, store, seq)
	var got []string
	for _, e := range ev {
		if e.Action == backend.ActionLoginFailure || e.Action == backend.ActionAccountLock {
			t.Errorf("unexpected %s %s", e.Action, e.TargetName)
		}
		got = append(got, e.Actor+" "+e.Action+" "+e.TargetName)
	}
	want := []string{
		"terraform rotation.start siem-forwarder",
		"terraform rotation.step siem-forwarder", // prepared
		"terraform app.undeploy siem-east",
		"terraform rotation.step siem-forwarder", // stopped
		"terraform api_key_account.regenerate siem-forwarder",
		"terraform app_secret.put siem-east/api-key",
		"terraform rotation.step siem-forwarder", // regenerated
		"terraform app.deploy siem-east",
		"siem-east login.success siem-forwarder",
		"terraform rotation.end siem-forwarder",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log of the apply:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := tfcli.Run(t, dir, "plan", "-detailed-exitcode"); r.Code != 0 {
		t.Fatalf("plan after the apply is not empty: %s", r)
	}
	state, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), "ahk_") {
		t.Error("the state holds a key secret")
	}
}

// TestStateUpgradeFromFirstDesign: a state written before expose_secret
// existed (schema version 0 of apphost_api_key_account, with the first
// design's value = key.secret) upgrades with no plan diff.
func TestStateUpgradeFromFirstDesign(t *testing.T) {
	tfcli.Require(t)
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "main.tf", embeddedConfig+`
resource "apphost_api_key_account" "siem" {
  name              = "siem-forwarder"
  rotation_triggers = { quarter = "2026-Q4" }
}

resource "apphost_app" "east" {
  name = "siem-east"
}

resource "apphost_app_secret" "east" {
  app_id             = apphost_app.east.id
  name               = "api-key"
  api_key_account_id = apphost_api_key_account.siem.id
  value              = apphost_api_key_account.siem.secret
}
`)
	if r := tfcli.Run(t, dir, "apply", "-auto-approve"); r.Code != 0 {
		t.Fatalf("apply: %s", r)
	}
	// Make the state what the first design wrote: no expose_secret, version 0.
	path := filepath.Join(dir, "terraform.tfstate")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, res := range st["resources"].([]any) {
		res := res.(map[string]any)
		if res["type"] != "apphost_api_key_account" {
			continue
		}
		for _, inst := range res["instances"].([]any) {
			inst := inst.(map[string]any)
			delete(inst["attributes"].(map[string]any), "expose_secret")
			inst["schema_version"] = 0
			found = true
		}
	}
	if !found {
		t.Fatal("no apphost_api_key_account in state")
	}
	st["serial"] = st["serial"].(float64) + 1
	raw, err = json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without a refresh too: the upgrade alone, not Read, must fill it in.
	for _, args := range [][]string{{"plan", "-refresh=false", "-detailed-exitcode"}, {"plan", "-detailed-exitcode"}} {
		r := tfcli.Run(t, dir, args...)
		if r.Code != 0 || !strings.Contains(r.Stdout, "No changes.") {
			t.Fatalf("%s of the upgraded state is not empty: %s", strings.Join(args, " "), r)
		}
	}
}

// TestPlanNamesEachRotatingKey: with several keys rotating, the plan has one
// warning per key whose summary names it, so Terraform does not fold them
// into "and N more similar warnings", and each names the apps it redeploys.
func TestPlanNamesEachRotatingKey(t *testing.T) {
	tfcli.Require(t)
	t.Parallel()
	dir := t.TempDir()
	config := func(quarter string) string {
		var b strings.Builder
		b.WriteString(embeddedConfig)
		for _, k := range []string{"k1", "k2", "k3"} {
			b.WriteString(`
resource "apphost_api_key_account" "` + k + `" {
  name              = "` + k + `"
  rotation_triggers = { quarter = "` + quarter + `" }
  expose_secret     = false
}

resource "apphost_app" "` + k + `" {
  name = "` + k + `-app"
}

resource "apphost_app_secret" "` + k + `" {
  app_id             = apphost_app.` + k + `.id
  name               = "api-key"
  api_key_account_id = apphost_api_key_account.` + k + `.id
}
`)
		}
		return b.String()
	}
	writeFile(t, dir, "main.tf", config("2026-Q4"))
	if r := tfcli.Run(t, dir, "apply", "-auto-approve"); r.Code != 0 {
		t.Fatalf("apply: %s", r)
	}
	writeFile(t, dir, "main.tf", config("2027-Q1"))
	r := tfcli.Run(t, dir, "plan")
	if r.Code != 0 {
		t.Fatalf("plan: %s", r)
	}
	out := strings.Join(strings.Fields(r.Stdout+r.Stderr), " ")
	for _, k := range []string{"k1", "k2", "k3"} {
		if !strings.Contains(out, `Warning: API key account "`+k+`" will be rotated`) || !strings.Contains(out, `"`+k+`-app"`) {
			t.Errorf("the plan has no warning naming %s and its app:\n%s", k, r.Stdout)
		}
	}
	if strings.Contains(out, "more similar warning") {
		t.Errorf("the plan folds the rotation warnings:\n%s", r.Stdout)
	}
}

// TestNameTakenOnCreate: a create whose name another object holds plans with
// a warning on the attribute that mentions moved, import and taint (the
// plan cannot tell a clash from a replacement), and fails at apply.
func TestNameTakenOnCreate(t *testing.T) {
	tfcli.Require(t)
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, ".apphost", "apphost.db")
	b := openStore(ctx, t, store)
	must(b.CreateAccount(ctx, backend.CreateAccountRequest{Name: "taken"}))(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "main.tf", embeddedConfig+`
resource "apphost_api_key_account" "k" {
  name = "taken"
}
`)
	r := tfcli.Run(t, dir, "plan")
	out := strings.Join(strings.Fields(r.Stdout+r.Stderr), " ")
	if r.Code != 0 || !strings.Contains(out, `Warning: API key account name "taken" is taken`) {
		t.Fatalf("plan: want a warning, not an error: %s", r)
	}
	for _, want := range []string{"-replace", "moved block", "import block"} {
		if !strings.Contains(out, want) {
			t.Errorf("the warning does not mention %q: %s", want, r)
		}
	}
	r = tfcli.Run(t, dir, "apply", "-auto-approve")
	if r.Code == 0 || !strings.Contains(strings.Join(strings.Fields(r.Stderr), " "), `an API key account named "taken" already exists`) {
		t.Errorf("apply: want it to fail on the taken name: %s", r)
	}
}
