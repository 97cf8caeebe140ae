package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/apphost/terraform-provider-apphost/internal/apiversion"
)

// serverInfo is what the provider's backend speaks. Configure refuses a
// remote server older than apiversion.MinForRotation; what came later is
// checked at plan time, on the attribute that needs it, so that an older
// server still serves the configurations that do not use it.
type serverInfo struct {
	// endpoint is the remote server's URL; "" for the embedded backend.
	endpoint string
	// version is the server binary's version (remote only).
	version string
	// apiVersion is the API version the backend speaks.
	apiVersion int
}

// embeddedServer is the embedded backend: this program's own domain, always current.
var embeddedServer = serverInfo{apiVersion: apiversion.Current}

// requireAPIVersion reports on attr, which the configuration sets, that
// resourceType's attr needs API version apiversion.MinForRotationObjects
// (App Hosts, secret_names) when the server speaks an older one: an older
// server would ignore the setting and the apply would not do what the plan
// says.
func requireAPIVersion(diags *diag.Diagnostics, server serverInfo, resourceType string, attr path.Path) {
	const need = apiversion.MinForRotationObjects
	if server.apiVersion >= need {
		return
	}
	addError(diags, attr, fmt.Sprintf("The apphost server is too old for %s", attr),
		fmt.Sprintf("The %s of %s needs an apphost server that speaks API version %d or later; the server at %s "+
			"speaks API version %d (server version %s), which would ignore it: the apply would not do what the plan says.",
			attr, resourceType, need, server.endpoint, server.apiVersion, server.version),
		fmt.Sprintf("Upgrade the server (terraform-provider-apphost serve) to a release that serves API version %d "+
			"(this provider's release or later), or remove %s from the configuration; then plan again.", need, attr), nil)
}
