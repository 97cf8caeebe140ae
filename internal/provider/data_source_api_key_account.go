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
	_ datasource.DataSource                     = (*apiKeyAccountDataSource)(nil)
	_ datasource.DataSourceWithConfigure        = (*apiKeyAccountDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*apiKeyAccountDataSource)(nil)
)

func newAPIKeyAccountDataSource() datasource.DataSource { return &apiKeyAccountDataSource{} }

// apiKeyAccountDataSource reads one API key account, never its secret.
type apiKeyAccountDataSource struct {
	backend backend.Backend
}

type apiKeyAccountDataSourceModel struct {
	ID                  types.String `tfsdk:"id"`
	Name                types.String `tfsdk:"name"`
	Description         types.String `tfsdk:"description"`
	Locked              types.Bool   `tfsdk:"locked"`
	ExposeSecret        types.Bool   `tfsdk:"expose_secret"`
	FailedLoginAttempts types.Int64  `tfsdk:"failed_login_attempts"`
	SecretVersion       types.Int64  `tfsdk:"secret_version"`
	SecretCreatedAt     types.String `tfsdk:"secret_created_at"`
	Admin               types.Bool   `tfsdk:"admin"`
	AppHost             types.String `tfsdk:"app_host"`
	RotationStrategy    types.String `tfsdk:"rotation_strategy"`
	OverlapPeriod       types.String `tfsdk:"overlap_period"`
	Apps                []string     `tfsdk:"apps"`
}

func (d *apiKeyAccountDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_key_account"
}

func (d *apiKeyAccountDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Looks up one API key account by `id` or by `name` (set exactly one), " +
			"with its lockout state, the version and age of its secret, and the apps bound to it. " +
			"The secret itself is never readable: it is shown only by the `apphost_api_key_account` " +
			"resource when it creates or regenerates the secret.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The account's ID (a UUID that never changes, not even when the secret is regenerated). " +
					"Set either `id` or `name`.",
				Optional: true,
				Computed: true,
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The account's unique name. Set either `id` or `name`. " +
					"When no account has this name, the error lists accounts with similar names.",
				Optional: true,
				Computed: true,
			},
			"description": schema.StringAttribute{
				MarkdownDescription: "The account's description.",
				Computed:            true,
			},
			"locked": schema.BoolAttribute{
				MarkdownDescription: descAccountLocked,
				Computed:            true,
			},
			"expose_secret": schema.BoolAttribute{
				MarkdownDescription: descAccountExposeSecret,
				Computed:            true,
			},
			"failed_login_attempts": schema.Int64Attribute{
				MarkdownDescription: descAccountFailedLogins,
				Computed:            true,
			},
			"secret_version": schema.Int64Attribute{
				MarkdownDescription: descAccountSecretVersion,
				Computed:            true,
			},
			"secret_created_at": schema.StringAttribute{
				MarkdownDescription: descAccountSecretCreated,
				Computed:            true,
			},
			"admin": schema.BoolAttribute{
				MarkdownDescription: "Whether the account may call the admin API of a backend server.",
				Computed:            true,
			},
			"app_host": schema.StringAttribute{
				MarkdownDescription: descAccountAppHost + " Null for other accounts.",
				Computed:            true,
			},
			"rotation_strategy": schema.StringAttribute{
				MarkdownDescription: descAccountRotationStrategy,
				Computed:            true,
			},
			"overlap_period": schema.StringAttribute{
				MarkdownDescription: descAccountOverlapPeriod,
				Computed:            true,
			},
			"apps": schema.ListAttribute{
				MarkdownDescription: descAccountApps,
				ElementType:         types.StringType,
				Computed:            true,
			},
		},
	}
}

func (d *apiKeyAccountDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{
		datasourcevalidator.ExactlyOneOf(path.MatchRoot("id"), path.MatchRoot("name")),
	}
}

func (d *apiKeyAccountDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd := configured(req.ProviderData, &resp.Diagnostics); pd != nil {
		d.backend = pd.backend
	}
}

func (d *apiKeyAccountDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg apiKeyAccountDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}

	var (
		acct *backend.Account
		err  error
	)
	if !cfg.ID.IsNull() {
		id := cfg.ID.ValueString()
		acct, err = d.backend.GetAccount(ctx, id)
		if backend.IsNotFound(err) {
			addNotFoundByID(&resp.Diagnostics, path.Root("id"), kindAccount, id)
			return
		}
	} else {
		name := cfg.Name.ValueString()
		acct, err = d.backend.GetAccountByName(ctx, name)
		if backend.IsNotFound(err) {
			names, listErr := d.names(ctx)
			addNotFoundByName(&resp.Diagnostics, path.Root("name"), kindAccount, name, names, listErr)
			return
		}
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error reading API key account", "The API key account could not be read.", err)
		return
	}

	state := apiKeyAccountDataSourceModel{
		ID:                  types.StringValue(acct.ID),
		Name:                types.StringValue(acct.Name),
		Description:         types.StringValue(acct.Description),
		Locked:              types.BoolValue(acct.Locked),
		ExposeSecret:        types.BoolValue(acct.ExposeSecret),
		FailedLoginAttempts: types.Int64Value(acct.FailedLoginAttempts),
		SecretVersion:       types.Int64Value(acct.SecretVersion),
		SecretCreatedAt:     types.StringValue(formatTime(acct.SecretCreatedAt)),
		Admin:               types.BoolValue(acct.Admin),
		AppHost:             appHostValue(acct.AppHost),
		RotationStrategy:    rotationStrategyValue(acct.RotationStrategy),
		OverlapPeriod:       durationValue(types.StringNull(), acct.OverlapPeriod, defaultOverlapPeriod),
		Apps:                nonNilStrings(acct.Apps),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// names lists the names of all accounts, for the suggestions of a not-found error.
func (d *apiKeyAccountDataSource) names(ctx context.Context) ([]string, error) {
	accts, err := d.backend.ListAccounts(ctx, backend.ListAccountsRequest{})
	names := make([]string, len(accts))
	for i, a := range accts {
		names[i] = a.Name
	}
	return names, err
}
