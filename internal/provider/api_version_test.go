package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

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
