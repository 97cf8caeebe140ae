package provider

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/apphost/terraform-provider-apphost/internal/apiversion"
)

// TestRequireAPIVersion: an attribute that needs API version 3 is refused,
// on that attribute, by a server that speaks 2, with an error that names the
// attribute, the version it needs, the server's and what to do; a current
// server and the embedded backend pass.
func TestRequireAPIVersion(t *testing.T) {
	old := serverInfo{endpoint: "https://apphost.example", version: "v1.3.0", apiVersion: 2}
	var diags diag.Diagnostics
	requireAPIVersion(&diags, old, "apphost_app", path.Root("secret_names"))
	if len(diags) != 1 {
		t.Fatalf("want one error, got %v", diags)
	}
	d := diags[0]
	withPath, ok := d.(diag.DiagnosticWithPath)
	if !ok || !withPath.Path().Equal(path.Root("secret_names")) {
		t.Errorf("the error is not on secret_names: %v", d)
	}
	text := d.Summary() + " " + d.Detail()
	for _, want := range []string{"too old for secret_names", "The secret_names of apphost_app needs", "API version 3 or later",
		"https://apphost.example speaks API version 2 (server version v1.3.0)", "Upgrade the server", "or remove secret_names"} {
		if !strings.Contains(text, want) {
			t.Errorf("the error does not say %q:\n%s", want, text)
		}
	}

	for _, s := range []serverInfo{embeddedServer, {endpoint: "https://apphost.example", apiVersion: apiversion.MinForRotationObjects}} {
		var diags diag.Diagnostics
		requireAPIVersion(&diags, s, "apphost_app", path.Root("command"))
		if diags.HasError() {
			t.Errorf("server %+v: %v", s, diags)
		}
	}
}

// TestAppCheckAPIVersion: apphost_app refuses, on an API version 2 server,
// exactly the attributes that server would ignore: secret_names, command,
// reload_signal and timeouts other than the defaults.
func TestAppCheckAPIVersion(t *testing.T) {
	strs := func(v ...string) []string { return v }
	model := func(names, command []string, reload, stop, start string) appModel {
		m := appModel{
			SecretNames:  types.SetNull(types.StringType),
			Command:      types.ListNull(types.StringType),
			ReloadSignal: types.StringNull(),
			StopTimeout:  types.StringValue(stop),
			StartTimeout: types.StringValue(start),
		}
		if names != nil {
			m.SecretNames, _ = types.SetValueFrom(t.Context(), types.StringType, names)
		}
		if command != nil {
			m.Command, _ = types.ListValueFrom(t.Context(), types.StringType, command)
		}
		if reload != "" {
			m.ReloadSignal = types.StringValue(reload)
		}
		return m
	}
	cases := []struct {
		name string
		m    appModel
		want []string
	}{
		{"defaults", model(nil, nil, "", "10s", "60s"), nil},
		{"defaults spelled otherwise", model(strs(), strs(), "", "10000ms", "1m"), nil},
		{"everything", model(strs("k"), strs("svc"), "SIGHUP", "5s", "2m"),
			[]string{"command", "reload_signal", "secret_names", "start_timeout", "stop_timeout"}},
		{"secret_names", model(strs("k"), nil, "", "10s", "60s"), []string{"secret_names"}},
	}
	for _, c := range cases {
		for _, server := range []serverInfo{{endpoint: "http://127.0.0.1:1", apiVersion: 2}, embeddedServer} {
			r := &appResource{server: server}
			var diags diag.Diagnostics
			r.checkAPIVersion(&diags, c.m)
			var got []string
			for _, d := range diags {
				if p, ok := d.(diag.DiagnosticWithPath); ok {
					got = append(got, p.Path().String())
				}
			}
			slices.Sort(got)
			want := c.want
			if server.apiVersion >= apiversion.MinForRotationObjects {
				want = nil
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, API version %d: errors on %v, want %v", c.name, server.apiVersion, got, want)
			}
		}
	}
}

// TestAccRemote_apiVersionGate: against a server of API version 2 (which
// Configure accepts) a plan that uses secret_names, command, an App Host
// account or an overlap rotation fails, naming each attribute and the version it needs; a plan
// that uses none of them goes through.
func TestAccRemote_apiVersionGate(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	// An API version 2 server: its version, and nothing else exists yet.
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/version" {
			_, _ = w.Write([]byte(`{"version":"v1.3.0","api_version":2}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"not found"}}`))
	}))
	defer old.Close()
	admin := newAdmin()
	w := newTFWorkdir(t)
	head := `
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}

provider "apphost" {}
`
	w.write(head + `
resource "apphost_api_key_account" "edge" {
  name     = "edge-host"
  app_host = "edge"
}

resource "apphost_api_key_account" "ingest" {
  name              = "ingest"
  rotation_strategy = "overlap"
  overlap_period    = "30m"
}

resource "apphost_app" "svc" {
  name         = "svc"
  command      = ["svc"]
  secret_names = ["key"]
}
`)
	code, out, _ := w.planAll(remoteEnvVars(old.URL, admin))
	text := strings.Join(strings.Fields(out), " ")
	if code == 0 {
		t.Fatalf("plan against an API version 2 server: exit 0, want errors:\n%s", out)
	}
	for _, attr := range []string{"app_host of apphost_api_key_account", "rotation_strategy of apphost_api_key_account",
		"overlap_period of apphost_api_key_account", "secret_names of apphost_app", "command of apphost_app"} {
		if !strings.Contains(text, "The "+attr+" needs an apphost server that speaks API version 3 or later") {
			t.Errorf("the plan does not refuse %s for API version 3:\n%s", attr, out)
		}
	}
	if !strings.Contains(text, old.URL+" speaks API version 2") {
		t.Errorf("the errors do not name the server and its version:\n%s", out)
	}

	w.write(head + `
resource "apphost_app" "svc" {
  name = "svc"
}

resource "apphost_api_key_account" "ingest" {
  name              = "ingest"
  rotation_strategy = "stop_first"
  overlap_period    = "15m0s"
}
`)
	if code, out, _ := w.planAll(remoteEnvVars(old.URL, admin)); code != 0 || !strings.Contains(out, "2 to add") {
		t.Errorf("plan without what needs API version 3: exit %d, want it to plan:\n%s", code, out)
	}
}
