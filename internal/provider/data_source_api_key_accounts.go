package provider

import (
	"context"
	"regexp"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/validators"
)

var (
	_ datasource.DataSource              = (*apiKeyAccountsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*apiKeyAccountsDataSource)(nil)
)

func newAPIKeyAccountsDataSource() datasource.DataSource { return &apiKeyAccountsDataSource{} }

// apiKeyAccountsDataSource lists API key accounts: the key inventory.
type apiKeyAccountsDataSource struct {
	backend backend.Backend
	// now is the provider's clock, which older_than compares with.
	now func() time.Time
}

type apiKeyAccountsDataSourceModel struct {
	Locked    types.Bool                  `tfsdk:"locked"`
	NameRegex types.String                `tfsdk:"name_regex"`
	OlderThan types.String                `tfsdk:"older_than"`
	Accounts  []apiKeyAccountSummaryModel `tfsdk:"accounts"`
	IDs       []string                    `tfsdk:"ids"`
}

type apiKeyAccountSummaryModel struct {
	ID                  string       `tfsdk:"id"`
	Name                string       `tfsdk:"name"`
	Locked              bool         `tfsdk:"locked"`
	ExposeSecret        bool         `tfsdk:"expose_secret"`
	FailedLoginAttempts int64        `tfsdk:"failed_login_attempts"`
	SecretVersion       int64        `tfsdk:"secret_version"`
	SecretCreatedAt     string       `tfsdk:"secret_created_at"`
	AppHost             types.String `tfsdk:"app_host"`
	RotationStrategy    types.String `tfsdk:"rotation_strategy"`
	OverlapPeriod       types.String `tfsdk:"overlap_period"`
	Apps                []string     `tfsdk:"apps"`
}

func (d *apiKeyAccountsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_key_accounts"
}

func (d *apiKeyAccountsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists API key accounts, sorted by name, with their lockout state, " +
			"the version and age of their secrets, and the apps bound to each: the inventory to find " +
			"locked keys and keys due for rotation. Every filter that is set must match. " +
			"Secrets are never readable.",
		Attributes: map[string]schema.Attribute{
			"locked": schema.BoolAttribute{
				MarkdownDescription: "Keep only locked accounts (`true`) or only unlocked accounts (`false`). Unset: both.",
				Optional:            true,
			},
			"name_regex": schema.StringAttribute{
				MarkdownDescription: "Keep only accounts whose name matches this regular expression " +
					"(Go [RE2](https://github.com/google/re2/wiki/Syntax) syntax; unanchored, so use `^` and `$` to match whole names).",
				Optional:   true,
				Validators: []validator.String{validators.Regex()},
			},
			"older_than": schema.StringAttribute{
				MarkdownDescription: "Keep only accounts whose current secret was created longer ago than this " +
					"Go duration, such as `\"2160h\"` for 90 days. The age is measured when the data source is read.",
				Optional:   true,
				Validators: []validator.String{validators.Duration()},
			},
			"accounts": schema.ListNestedAttribute{
				MarkdownDescription: "The matching accounts, sorted by name.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"id": schema.StringAttribute{
							MarkdownDescription: "The account's ID.",
							Computed:            true,
						},
						"name": schema.StringAttribute{
							MarkdownDescription: "The account's name.",
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
				},
			},
			"ids": schema.ListAttribute{
				MarkdownDescription: "The IDs of the matching accounts, in the order of `accounts`.",
				ElementType:         types.StringType,
				Computed:            true,
			},
		},
	}
}

func (d *apiKeyAccountsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd := configured(req.ProviderData, &resp.Diagnostics); pd != nil {
		d.backend, d.now = pd.backend, pd.now
	}
}

func (d *apiKeyAccountsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m apiKeyAccountsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}

	// The validators have checked both at plan time; these errors only
	// guard a Read that skipped validation.
	var re *regexp.Regexp
	if !m.NameRegex.IsNull() {
		var err error
		if re, err = regexp.Compile(m.NameRegex.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("name_regex"), "Invalid regular expression", err.Error())
			return
		}
	}
	var cutoff time.Time
	if !m.OlderThan.IsNull() {
		age, err := time.ParseDuration(m.OlderThan.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("older_than"), "Invalid duration", err.Error())
			return
		}
		cutoff = d.now().Add(-age)
	}

	var list backend.ListAccountsRequest
	if !m.Locked.IsNull() {
		locked := m.Locked.ValueBool()
		list.Locked = &locked
	}
	accts, err := d.backend.ListAccounts(ctx, list)
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error listing API key accounts", "The API key accounts could not be listed.", err)
		return
	}

	sort.SliceStable(accts, func(i, j int) bool { return accts[i].Name < accts[j].Name })
	m.Accounts = []apiKeyAccountSummaryModel{}
	m.IDs = []string{}
	for _, a := range accts {
		if list.Locked != nil && a.Locked != *list.Locked {
			continue
		}
		if re != nil && !re.MatchString(a.Name) {
			continue
		}
		if !cutoff.IsZero() && !a.SecretCreatedAt.Before(cutoff) {
			continue
		}
		m.Accounts = append(m.Accounts, apiKeyAccountSummaryModel{
			ID:                  a.ID,
			Name:                a.Name,
			Locked:              a.Locked,
			ExposeSecret:        a.ExposeSecret,
			FailedLoginAttempts: a.FailedLoginAttempts,
			SecretVersion:       a.SecretVersion,
			SecretCreatedAt:     formatTime(a.SecretCreatedAt),
			AppHost:             appHostValue(a.AppHost),
			RotationStrategy:    rotationStrategyValue(a.RotationStrategy),
			OverlapPeriod:       durationValue(types.StringNull(), a.OverlapPeriod, defaultOverlapPeriod),
			Apps:                nonNilStrings(a.Apps),
		})
		m.IDs = append(m.IDs, a.ID)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
