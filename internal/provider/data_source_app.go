package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/datasourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var (
	_ datasource.DataSource                     = (*appDataSource)(nil)
	_ datasource.DataSourceWithConfigure        = (*appDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*appDataSource)(nil)
)

func newAppDataSource() datasource.DataSource { return &appDataSource{} }

// appDataSource reads one app with its secrets' bindings, never their values.
type appDataSource struct {
	backend backend.Backend
}

type appDataSourceModel struct {
	ID   types.String `tfsdk:"id"`
	Name types.String `tfsdk:"name"`
	appFieldsModel
}

// appFieldsModel is what the app data sources read of an app, apart from
// its id and name (appComputedAttributes).
type appFieldsModel struct {
	AppHost      string              `tfsdk:"app_host"`
	Version      string              `tfsdk:"version"`
	Config       map[string]string   `tfsdk:"config"`
	Deployed     bool                `tfsdk:"deployed"`
	Command      []string            `tfsdk:"command"`
	SecretNames  []string            `tfsdk:"secret_names"`
	StopTimeout  string              `tfsdk:"stop_timeout"`
	StartTimeout string              `tfsdk:"start_timeout"`
	ReloadSignal types.String        `tfsdk:"reload_signal"`
	Status       string              `tfsdk:"status"`
	StatusDetail string              `tfsdk:"status_detail"`
	Secrets      []appSecretRefModel `tfsdk:"secrets"`
}

// appFields reads a's fields for the app data sources.
func appFields(a *backend.App) appFieldsModel {
	var m appModel
	m.setApp(a)
	return appFieldsModel{
		AppHost:      a.AppHost,
		Version:      a.Version,
		Config:       dsNonNilConfig(a.Config),
		Deployed:     a.Deployed,
		Command:      nonNilStrings(a.Command),
		SecretNames:  nonNilStrings(a.SecretNames),
		StopTimeout:  m.StopTimeout.ValueString(),
		StartTimeout: m.StartTimeout.ValueString(),
		ReloadSignal: m.ReloadSignal,
		Status:       a.Status,
		StatusDetail: m.StatusDetail.ValueString(),
		Secrets:      appSecretRefs(a.Secrets),
	}
}

// appSecretRefModel is an app secret as the app data sources show it: its
// name and binding, never its value.
type appSecretRefModel struct {
	Name            string `tfsdk:"name"`
	APIKeyAccountID string `tfsdk:"api_key_account_id"`
}

// appComputedAttributes are the attributes the app data sources read, apart
// from id and name.
func appComputedAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"app_host": schema.StringAttribute{
			MarkdownDescription: "The App Host the app runs on.",
			Computed:            true,
		},
		"version": schema.StringAttribute{
			MarkdownDescription: "The app's version.",
			Computed:            true,
		},
		"config": schema.MapAttribute{
			MarkdownDescription: "The app's non-secret configuration settings.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"deployed": schema.BoolAttribute{
			MarkdownDescription: "Whether the app is meant to be deployed (its desired state).",
			Computed:            true,
		},
		"command": schema.ListAttribute{
			MarkdownDescription: "The program a real App Host runs, and its arguments; empty when none is set.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"secret_names": schema.ListAttribute{
			MarkdownDescription: "The app secrets the app needs before it starts, sorted.",
			ElementType:         types.StringType,
			Computed:            true,
		},
		"stop_timeout": schema.StringAttribute{
			MarkdownDescription: "How long a real App Host waits after SIGTERM before SIGKILL.",
			Computed:            true,
		},
		"start_timeout": schema.StringAttribute{
			MarkdownDescription: "How long a start may take to become healthy.",
			Computed:            true,
		},
		"reload_signal": schema.StringAttribute{
			MarkdownDescription: "The signal on which the app rereads its secret files; null when none is set.",
			Computed:            true,
		},
		"status": schema.StringAttribute{
			MarkdownDescription: descAppStatus,
			Computed:            true,
		},
		"status_detail": schema.StringAttribute{
			MarkdownDescription: descAppStatusDetail,
			Computed:            true,
		},
		"secrets": schema.ListNestedAttribute{
			MarkdownDescription: "The app's secrets, sorted by name: which API key account each authenticates as. " +
				"Secret values are never readable.",
			Computed: true,
			NestedObject: schema.NestedAttributeObject{
				Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{
						MarkdownDescription: "The app secret's name.",
						Computed:            true,
					},
					"api_key_account_id": schema.StringAttribute{
						MarkdownDescription: "The ID of the API key account the secret authenticates as; empty when unbound.",
						Computed:            true,
					},
				},
			},
		},
	}
}

func appSecretRefs(secrets []backend.AppSecret) []appSecretRefModel {
	out := make([]appSecretRefModel, len(secrets))
	for i, s := range secrets {
		out[i] = appSecretRefModel{Name: s.Name, APIKeyAccountID: s.AccountID}
	}
	return out
}

func dsNonNilConfig(c map[string]string) map[string]string {
	if c == nil {
		return map[string]string{}
	}
	return c
}

func (d *appDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app"
}

func (d *appDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := appComputedAttributes()
	attrs["id"] = schema.StringAttribute{
		MarkdownDescription: "The app's ID. Set either `id` or `name`.",
		Optional:            true,
		Computed:            true,
	}
	attrs["name"] = schema.StringAttribute{
		MarkdownDescription: "The app's unique name. Set either `id` or `name`. " +
			"When no app has this name, the error lists apps with similar names.",
		Optional: true,
		Computed: true,
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Looks up one app by `id` or by `name` (set exactly one): its App Host, version, " +
			"configuration, how a real App Host runs it, desired and actual state, the secrets it needs, and " +
			"which API key account each of its secrets authenticates as. Secret values are never readable.",
		Attributes: attrs,
	}
}

func (d *appDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{
		datasourcevalidator.ExactlyOneOf(path.MatchRoot("id"), path.MatchRoot("name")),
	}
}

func (d *appDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd := configured(req.ProviderData, &resp.Diagnostics); pd != nil {
		d.backend = pd.backend
	}
}

func (d *appDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg struct{ ID, Name types.String }
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("id"), &cfg.ID)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("name"), &cfg.Name)...)
	if resp.Diagnostics.HasError() {
		return
	}

	var (
		app *backend.App
		err error
	)
	if !cfg.ID.IsNull() {
		id := cfg.ID.ValueString()
		app, err = d.backend.GetApp(ctx, id)
		if backend.IsNotFound(err) {
			addNotFoundByID(&resp.Diagnostics, path.Root("id"), kindApp, id)
			return
		}
	} else {
		name := cfg.Name.ValueString()
		app, err = d.backend.GetAppByName(ctx, name)
		if backend.IsNotFound(err) {
			names, listErr := d.names(ctx)
			addNotFoundByName(&resp.Diagnostics, path.Root("name"), kindApp, name, names, listErr)
			return
		}
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error reading app", "The app could not be read.", err)
		return
	}

	state := appDataSourceModel{
		ID:             types.StringValue(app.ID),
		Name:           types.StringValue(app.Name),
		appFieldsModel: appFields(app),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// names lists the names of all apps, for the suggestions of a not-found error.
func (d *appDataSource) names(ctx context.Context) ([]string, error) {
	apps, err := d.backend.ListApps(ctx, backend.ListAppsRequest{})
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return names, err
}
