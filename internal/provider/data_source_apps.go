package provider

import (
	"context"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var (
	_ datasource.DataSource              = (*appsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*appsDataSource)(nil)
)

func newAppsDataSource() datasource.DataSource { return &appsDataSource{} }

// appsDataSource lists apps.
type appsDataSource struct {
	backend backend.Backend
}

type appsDataSourceModel struct {
	Deployed types.Bool      `tfsdk:"deployed"`
	AppHost  types.String    `tfsdk:"app_host"`
	Apps     []appEntryModel `tfsdk:"apps"`
	IDs      []string        `tfsdk:"ids"`
}

type appEntryModel struct {
	ID   string `tfsdk:"id"`
	Name string `tfsdk:"name"`
	appFieldsModel
}

func (d *appsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_apps"
}

func (d *appsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	entry := appComputedAttributes()
	entry["id"] = schema.StringAttribute{
		MarkdownDescription: "The app's ID.",
		Computed:            true,
	}
	entry["name"] = schema.StringAttribute{
		MarkdownDescription: "The app's name.",
		Computed:            true,
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists apps, sorted by name, with their App Host, version, configuration, how a " +
			"real App Host runs them, desired and actual state, the secrets they need, and which API key account " +
			"each of their secrets authenticates as. " +
			"Every filter that is set must match. Secret values are never readable.",
		Attributes: map[string]schema.Attribute{
			"deployed": schema.BoolAttribute{
				MarkdownDescription: "Keep only apps meant to be deployed (`true`) or only apps meant to be " +
					"undeployed (`false`). Unset: both.",
				Optional: true,
			},
			"app_host": schema.StringAttribute{
				MarkdownDescription: "Keep only apps on this App Host.",
				Optional:            true,
			},
			"apps": schema.ListNestedAttribute{
				MarkdownDescription: "The matching apps, sorted by name.",
				Computed:            true,
				NestedObject:        schema.NestedAttributeObject{Attributes: entry},
			},
			"ids": schema.ListAttribute{
				MarkdownDescription: "The IDs of the matching apps, in the order of `apps`.",
				ElementType:         types.StringType,
				Computed:            true,
			},
		},
	}
}

func (d *appsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd := configured(req.ProviderData, &resp.Diagnostics); pd != nil {
		d.backend = pd.backend
	}
}

func (d *appsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m appsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}

	var list backend.ListAppsRequest
	if !m.Deployed.IsNull() {
		deployed := m.Deployed.ValueBool()
		list.Deployed = &deployed
	}
	filterHost := !m.AppHost.IsNull()
	if filterHost {
		list.AppHost = m.AppHost.ValueString()
	}
	apps, err := d.backend.ListApps(ctx, list)
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error listing apps", "The apps could not be listed.", err)
		return
	}

	sort.SliceStable(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	m.Apps = []appEntryModel{}
	m.IDs = []string{}
	for _, a := range apps {
		if list.Deployed != nil && a.Deployed != *list.Deployed {
			continue
		}
		if filterHost && a.AppHost != list.AppHost {
			continue
		}
		m.Apps = append(m.Apps, appEntryModel{ID: a.ID, Name: a.Name, appFieldsModel: appFields(&a)})
		m.IDs = append(m.IDs, a.ID)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
