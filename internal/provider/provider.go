// Package provider is the Terraform provider for apphost: the provider
// configuration, its resources and data sources. It talks to a backend only
// through the backend.Backend interface.
package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/providervalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
)

// Environment variables read by the provider configuration.
const (
	envEndpoint     = "APPHOST_ENDPOINT"
	envAPIKeyID     = "APPHOST_API_KEY_ID"
	envAPIKeySecret = "APPHOST_API_KEY_SECRET" //nolint:gosec // a variable name, not a secret
	// The embedded backend's store: the same variable and default as the
	// admin commands, from the package that opens it.
	envStorePath     = embedded.EnvStorePath
	defaultStorePath = embedded.DefaultStorePath
)

var (
	_ provider.Provider                     = (*apphostProvider)(nil)
	_ provider.ProviderWithConfigValidators = (*apphostProvider)(nil)
)

// New returns a function that makes the provider, as providerserver.Serve wants it.
func New(version string) func() provider.Provider {
	return newWithClock(version, time.Now)
}

// newWithClock is New with the clock the resources read (tests set one).
func newWithClock(version string, now func() time.Time) func() provider.Provider {
	return func() provider.Provider {
		return &apphostProvider{version: version, now: now}
	}
}

// NewWithBackend is New over a backend of the caller's choosing: Configure
// opens no store and builds no client, and hands the resources b. It is for
// the benchmark's no-I/O floor, which measures this provider without its I/O.
func NewWithBackend(version string, b backend.Backend) func() provider.Provider {
	return func() provider.Provider {
		return &apphostProvider{version: version, now: time.Now, fixed: b}
	}
}

type apphostProvider struct {
	version string
	now     func() time.Time
	// fixed, when set, is the backend Configure hands out (NewWithBackend).
	fixed backend.Backend
}

// providerData is what Configure hands to every resource and data source.
type providerData struct {
	backend backend.Backend
	// now is the clock: Read records the time of each refresh with it.
	now func() time.Time
	// plan is what this run has planned so far. Terraform starts the
	// provider and configures it once per plan (and once per apply), so it
	// holds one run's plan.
	plan *planLedger
	// server is what the backend speaks: plans check against it what the
	// configuration uses.
	server serverInfo
	// hosts are the backend's App Hosts, listed once per run.
	hosts *appHostList
}

// providerModel is the provider configuration.
type providerModel struct {
	Endpoint           types.String `tfsdk:"endpoint"`
	APIKeyID           types.String `tfsdk:"api_key_id"`
	APIKeySecret       types.String `tfsdk:"api_key_secret"`
	StorePath          types.String `tfsdk:"store_path"`
	CAFile             types.String `tfsdk:"ca_file"`
	InsecureSkipVerify types.Bool   `tfsdk:"insecure_skip_verify"`
}

func (p *apphostProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "apphost"
	resp.Version = p.version
}

func (p *apphostProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The apphost provider manages API key accounts, apps on an App Host and the " +
			"app secrets that bind them, and makes API key rotation safe: a change of a rotation trigger " +
			"undeploys every dependent app, regenerates the key, stores the new secret and deploys the apps " +
			"again, in that order.\n\n" +
			"Without `endpoint` the provider uses the embedded backend: the admin domain in-process over a " +
			"SQLite file (`store_path`). With `endpoint` it talks to a remote admin backend over HTTP.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				MarkdownDescription: "URL (`http://` or `https://`) of a remote admin backend. Unset: the embedded " +
					"backend. May also be set with the `" + envEndpoint + "` environment variable.",
				Optional: true,
			},
			"api_key_id": schema.StringAttribute{
				MarkdownDescription: "ID of the admin API key account used to authenticate to the remote backend " +
					"(HTTP Basic user). Required with `endpoint`. May also be set with `" + envAPIKeyID + "`.",
				Optional: true,
			},
			"api_key_secret": schema.StringAttribute{
				MarkdownDescription: "Secret of the admin API key account (HTTP Basic password). Required with " +
					"`endpoint`. May also be set with `" + envAPIKeySecret + "`.",
				Optional:  true,
				Sensitive: true,
			},
			"store_path": schema.StringAttribute{
				MarkdownDescription: "Database file of the embedded backend, created with its key file if missing " +
					"(when set but missing, the plan warns: resources already in state would all look deleted). " +
					"Defaults to `.apphost/apphost.db` under the working directory. May also be set with `" +
					envStorePath + "`. Conflicts with `endpoint`. Workspaces share one store unless each has its " +
					"own: `store_path = \".apphost/${terraform.workspace}.db\"`.",
				Optional: true,
			},
			"ca_file": schema.StringAttribute{
				MarkdownDescription: "PEM file of the certificate authorities trusted for TLS to the remote backend, " +
					"in addition to the system ones.",
				Optional: true,
			},
			"insecure_skip_verify": schema.BoolAttribute{
				MarkdownDescription: "Skip verification of the remote backend's TLS certificate. For tests only.",
				Optional:            true,
			},
		},
	}
}

func (p *apphostProvider) ConfigValidators(_ context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{
		providervalidator.Conflicting(path.MatchRoot("store_path"), path.MatchRoot("endpoint")),
	}
}

func (p *apphostProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	if p.fixed != nil {
		p.configured(resp, p.fixed, embeddedServer)
		return
	}
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}

	for _, a := range []struct {
		name string
		v    types.String
	}{
		{"endpoint", cfg.Endpoint}, {"api_key_id", cfg.APIKeyID}, {"api_key_secret", cfg.APIKeySecret},
		{"store_path", cfg.StorePath}, {"ca_file", cfg.CAFile},
	} {
		if a.v.IsUnknown() {
			addError(&resp.Diagnostics, path.Root(a.name), "Unknown apphost provider configuration",
				fmt.Sprintf("The provider cannot choose its backend while %q is unknown (it depends on a value "+
					"known only after apply).", a.name),
				"Set it to a static value, or apply the resources it depends on first with -target.", nil)
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	endpoint := stringOrEnv(cfg.Endpoint, envEndpoint)
	ctx = maskSecrets(ctx)
	if endpoint == "" {
		storePath := stringOrEnv(cfg.StorePath, envStorePath)
		configuredPath := storePath != ""
		if !configuredPath {
			storePath = defaultStorePath
		}
		b, created, err := embeddedBackend(ctx, storePath)
		if err != nil {
			addError(&resp.Diagnostics, path.Root("store_path"), "Error opening the embedded apphost backend",
				fmt.Sprintf("The provider could not open the embedded backend's store %q.", storePath),
				"Check that the directory is writable, that its key file is readable, and that no newer provider "+
					"version migrated it.", err)
			return
		}
		if created && configuredPath {
			resp.Diagnostics.AddAttributeWarning(path.Root("store_path"), "New empty apphost store",
				fmt.Sprintf("The store %q did not exist, so the provider created it, empty. On a first apply that is "+
					"expected. If the state already holds apphost resources, they are in another store, and every "+
					"one of them now looks deleted (the plan creates them again): check store_path and %s. "+
					"Workspaces share one store unless each has its own, such as "+
					"store_path = \".apphost/${terraform.workspace}.db\".", storePath, envStorePath))
		}
		p.configured(resp, b, embeddedServer)
		return
	}

	if !cfg.StorePath.IsNull() {
		addError(&resp.Diagnostics, path.Root("store_path"), "Conflicting apphost provider configuration",
			"store_path selects the embedded backend and the endpoint (set with "+envEndpoint+") a remote one.",
			"Remove one of them.", nil)
		return
	}
	// The one shape of a remote backend's configuration: the client's.
	rc := client.Config{
		Endpoint:           endpoint,
		APIKeyID:           stringOrEnv(cfg.APIKeyID, envAPIKeyID),
		APIKeySecret:       stringOrEnv(cfg.APIKeySecret, envAPIKeySecret),
		CAFile:             cfg.CAFile.ValueString(),
		InsecureSkipVerify: cfg.InsecureSkipVerify.ValueBool(),
		UserAgent:          "terraform-provider-apphost/" + p.version,
	}
	if rc.APIKeyID == "" {
		addError(&resp.Diagnostics, path.Root("api_key_id"), "Missing apphost API key ID",
			"A remote backend (endpoint) needs an admin API key account.", "Set api_key_id or "+envAPIKeyID+".", nil)
	}
	if rc.APIKeySecret == "" {
		addError(&resp.Diagnostics, path.Root("api_key_secret"), "Missing apphost API key secret",
			"A remote backend (endpoint) needs an admin API key account.", "Set api_key_secret or "+envAPIKeySecret+".", nil)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = tflog.MaskAllFieldValuesStrings(ctx, rc.APIKeySecret)
	tflog.Debug(ctx, "Configuring remote apphost backend", map[string]any{
		"endpoint": rc.Endpoint, "api_key_id": rc.APIKeyID, "insecure_skip_verify": rc.InsecureSkipVerify,
	})
	b, info, err := remoteBackend(ctx, rc)
	var be *backend.Error
	switch {
	case errors.As(err, &be) && be.Code == backend.CodeInvalid && be.Field != "":
		// The client's own check of its configuration (the endpoint's URL, the CA file).
		addError(&resp.Diagnostics, path.Root(be.Field), "Invalid apphost provider configuration",
			be.Message, "", err)
		return
	case err != nil:
		addServerCheckError(&resp.Diagnostics, err)
		return
	}
	tflog.Debug(ctx, "Checked the remote apphost backend", map[string]any{
		"endpoint": rc.Endpoint, "server_version": info.Version, "api_version": info.APIVersion,
	})
	p.configured(resp, b, serverInfo{endpoint: rc.Endpoint, version: info.Version, apiVersion: info.APIVersion})
}

// configured hands b, with the provider's clock and what b speaks, to every
// resource and data source: the one configure path.
func (p *apphostProvider) configured(resp *provider.ConfigureResponse, b backend.Backend, server serverInfo) {
	resp.DataSourceData = &providerData{backend: b, now: p.now, plan: newPlanLedger(), server: server, hosts: newAppHostList(b)}
	resp.ResourceData = resp.DataSourceData
}

func (p *apphostProvider) Resources(_ context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newAPIKeyAccountResource,
		newAppResource,
		newAppSecretResource,
	}
}

func (p *apphostProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		newAPIKeyAccountDataSource,
		newAPIKeyAccountsDataSource,
		newAppDataSource,
		newAppsDataSource,
		newAppHostsDataSource,
	}
}

// stringOrEnv returns v, or the environment variable env when v is null.
func stringOrEnv(v types.String, env string) string {
	if !v.IsNull() {
		return v.ValueString()
	}
	return os.Getenv(env)
}

// configured returns the provider data of a resource's or data source's
// Configure: nil, with no diagnostic, while the provider is not configured
// yet (ProviderData nil), as the framework expects.
func configured(data any, diags *diag.Diagnostics) *providerData {
	if data == nil {
		return nil
	}
	d, ok := data.(*providerData)
	if !ok {
		addError(diags, path.Empty(), "Unexpected provider data", fmt.Sprintf("Expected *providerData, got %T.", data),
			"This is always a bug in the provider: please report it.", nil)
		return nil
	}
	return d
}
