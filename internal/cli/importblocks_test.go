package cli

import (
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

func TestSanitizeLabel(t *testing.T) {
	for name, want := range map[string]string{
		"siem-forwarder":   "siem_forwarder",
		"Backup Agent":     "backup_agent",
		"--a..b--":         "a_b",
		"9lives":           "_9lives",
		"":                 "unnamed",
		"日本":               "unnamed",
		"app_secret/api.k": "app_secret_api_k",
	} {
		if got := sanitizeLabel(name); got != want {
			t.Errorf("sanitizeLabel(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestImportBlocksLabels(t *testing.T) {
	accounts := []backend.Account{
		{ID: "b", Name: "siem_forwarder"},
		{ID: "a", Name: "siem-forwarder"},
		{ID: "c", Name: "Siem Forwarder"},
	}
	apps := []backend.App{
		{ID: "app2", Name: "west", Secrets: []backend.AppSecret{{Name: "z"}, {Name: "api-key"}}},
		{ID: "app1", Name: "siem-forwarder", Secrets: []backend.AppSecret{{Name: "k"}}},
	}
	var got []string
	for _, b := range importBlocks(accounts, apps) {
		got = append(got, b.typ+"."+b.label+"="+b.id)
	}
	want := []string{
		// Sorted by name: "Siem Forwarder" < "siem-forwarder" < "siem_forwarder".
		"apphost_api_key_account.siem_forwarder=c",
		"apphost_api_key_account.siem_forwarder_2=a",
		"apphost_api_key_account.siem_forwarder_3=b",
		// Labels are unique per type: an app may share an account's label.
		"apphost_app.siem_forwarder=app1",
		"apphost_app.west=app2",
		"apphost_app_secret.siem_forwarder_k=app1/k",
		"apphost_app_secret.west_api_key=app2/api-key",
		"apphost_app_secret.west_z=app2/z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("import blocks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAccountsImportBlocks(t *testing.T) {
	f := newFixture(t)
	code, stdout, stderr := run(t, "", "accounts", "--store", f.store, "--import-blocks")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f.noSecret(t, stdout, stderr)
	for _, want := range []string{
		"terraform plan -generate-config-out=generated.tf",
		"import {\n  to = apphost_api_key_account.siem_forwarder\n  id = \"" + f.siem.ID + "\"\n}\n",
		"import {\n  to = apphost_api_key_account.backup_agent\n  id = \"" + f.backup.ID + "\"\n}\n",
		"to = apphost_app.east\n",
		"to = apphost_app_secret.east_api_key\n",
		"to = apphost_app_secret.backup_api_key\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output does not contain %q:\n%s", want, stdout)
		}
	}
	if n := strings.Count(stdout, "import {"); n != 2+3+3 {
		t.Errorf("%d import blocks, want 8:\n%s", n, stdout)
	}

	code, _, stderr = run(t, "", "accounts", "--store", f.store, "--import-blocks", "--json")
	if code != 2 || !strings.Contains(stderr, "cannot be used together") {
		t.Errorf("--json --import-blocks: exit %d, stderr %q", code, stderr)
	}
}
