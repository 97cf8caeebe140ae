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
	_ datasource.DataSource              = (*appHostsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*appHostsDataSource)(nil)
)

func newAppHostsDataSource() datasource.DataSource { return &appHostsDataSource{} }

// appHostsDataSource lists the App Hosts, real and built-in.
type appHostsDataSource struct {
	backend backend.Backend
}

type appHostsDataSourceModel struct {
	AppHosts []appHostModel `tfsdk:"app_hosts"`
	Names    []string       `tfsdk:"names"`
}

type appHostModel struct {
	Name       string   `tfsdk:"name"`
	BuiltIn    bool     `tfsdk:"built_in"`
	State      string   `tfsdk:"state"`
	Address    string   `tfsdk:"address"`
	InstanceID string   `tfsdk:"instance_id"`
	Version    string   `tfsdk:"version"`
	Driver     string   `tfsdk:"driver"`
	LastReport string   `tfsdk:"last_report"`
	Forgotten  bool     `tfsdk:"forgotten"`
	Apps       []string `tfsdk:"apps"`
}

func (d *appHostsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app_hosts"
}

func (d *appHostsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the App Hosts, sorted by name: every real App Host (the name an App Host " +
			"account claims: an `apphost_api_key_account` with `app_host`), whether it has connected, and the " +
			"built-in App Host of every other `app_host` that apps use, each with its apps.",
		Attributes: map[string]schema.Attribute{
			"app_hosts": schema.ListNestedAttribute{
				MarkdownDescription: "The App Hosts, sorted by name.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"name": computed("The App Host's name: the `app_host` of its apps."),
						"built_in": schema.BoolAttribute{
							MarkdownDescription: "Whether the backend's built-in App Host serves the name (no App " +
								"Host account claims it): it runs no process, and each app logs in once at each start.",
							Computed: true,
						},
						"state": computed("`built_in`; or, for a real App Host, `unknown` (it has never " +
							"connected: its apps are `pending`), `online` or `offline` (it stopped reporting)."),
						"address":     computed("The address a real App Host last connected from; empty for others."),
						"instance_id": computed("The instance ID of the real App Host that holds the name; empty for others."),
						"version":     computed("The version of that App Host's program; empty for others."),
						"driver":      computed("How that App Host runs apps: `exec` (processes) or `virtual`; empty for others."),
						"last_report": computed("When that App Host last reported (RFC 3339, UTC); empty when it never did."),
						"forgotten": schema.BoolAttribute{
							MarkdownDescription: "Whether the App Host was declared lost (`terraform-provider-apphost " +
								"app-hosts forget`): it stops its apps when it comes back.",
							Computed: true,
						},
						"apps": schema.ListAttribute{
							MarkdownDescription: "The names of the apps on the App Host, sorted.",
							ElementType:         types.StringType,
							Computed:            true,
						},
					},
				},
			},
			"names": schema.ListAttribute{
				MarkdownDescription: "The names of the App Hosts, in the order of `app_hosts`.",
				ElementType:         types.StringType,
				Computed:            true,
			},
		},
	}
}

func (d *appHostsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd := configured(req.ProviderData, &resp.Diagnostics); pd != nil {
		d.backend = pd.backend
	}
}

func (d *appHostsDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	hosts, err := d.backend.ListAppHosts(ctx)
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error listing App Hosts", "The App Hosts could not be listed.", err)
		return
	}
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	m := appHostsDataSourceModel{AppHosts: make([]appHostModel, 0, len(hosts)), Names: make([]string, 0, len(hosts))}
	for _, h := range hosts {
		last := ""
		if h.LastReport != nil {
			last = formatTime(*h.LastReport)
		}
		m.AppHosts = append(m.AppHosts, appHostModel{
			Name: h.Name, BuiltIn: h.BuiltIn, State: h.State, Address: h.Address, InstanceID: h.InstanceID,
			Version: h.Version, Driver: h.Driver, LastReport: last, Forgotten: h.Forgotten, Apps: nonNilStrings(h.Apps),
		})
		m.Names = append(m.Names, h.Name)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
