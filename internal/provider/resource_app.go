package provider

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/validators"
)

var (
	_ resource.Resource                = (*appResource)(nil)
	_ resource.ResourceWithConfigure   = (*appResource)(nil)
	_ resource.ResourceWithImportState = (*appResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*appResource)(nil)
)

func newAppResource() resource.Resource { return &appResource{} }

type appResource struct {
	backend backend.Backend
	plan    *planLedger
}

type appModel struct {
	ID       types.String `tfsdk:"id"`
	Name     types.String `tfsdk:"name"`
	AppHost  types.String `tfsdk:"app_host"`
	Version  types.String `tfsdk:"version"`
	Config   types.Map    `tfsdk:"config"`
	Deployed types.Bool   `tfsdk:"deployed"`
	Status   types.String `tfsdk:"status"`
}

func (r *appResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app"
}

func (r *appResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An app on an App Host. A deployed app logs in with the API key accounts its " +
			"app secrets (`apphost_app_secret`) are bound to. A change of `name`, `app_host`, `version` or " +
			"`config` while the app is deployed is applied as undeploy, change, deploy. An app undeployed " +
			"outside Terraform shows as `deployed = false` in the next plan, which deploys it again.\n\n" +
			"Import by ID or by name.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The app's ID, a UUID.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The app's name, unique in the backend. It is the actor of the app's own logins in the audit log.",
				Required:            true,
				Validators:          []validator.String{validators.Name()},
			},
			"app_host": schema.StringAttribute{
				MarkdownDescription: "The App Host the app runs on. Defaults to `\"default\"`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(backend.DefaultAppHost),
				Validators:          []validator.String{validators.Name()},
			},
			"version": schema.StringAttribute{
				MarkdownDescription: "The version of the app to run. Defaults to `\"\"`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(""),
			},
			"config": schema.MapAttribute{
				MarkdownDescription: "Non-secret settings of the app (app.config). Put secrets in `apphost_app_secret`.",
				ElementType:         types.StringType,
				Optional:            true,
				Validators: []validator.Map{
					mapvalidator.SizeAtMost(backend.MaxConfigEntries),
					mapvalidator.KeysAre(stringvalidator.LengthBetween(1, backend.MaxConfigValueLength)),
					mapvalidator.ValueStringsAre(stringvalidator.LengthAtMost(backend.MaxConfigValueLength)),
				},
			},
			"deployed": schema.BoolAttribute{
				MarkdownDescription: "Whether the app is meant to run on its App Host. Defaults to `true`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(true),
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "What the App Host is doing with the app: `running`, `failed` (deployed but " +
					"cannot log in: a stale secret or a locked account) or `stopped`.",
				Computed: true,
			},
		},
	}
}

func (r *appResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d := configured(req.ProviderData, &resp.Diagnostics); d != nil {
		r.backend, r.plan = d.backend, d.plan
	}
}

func (m *appModel) setApp(a *backend.App) {
	m.ID = types.StringValue(a.ID)
	m.Name = types.StringValue(a.Name)
	m.AppHost = types.StringValue(a.AppHost)
	m.Version = types.StringValue(a.Version)
	if len(a.Config) == 0 && (m.Config.IsNull() || m.Config.IsUnknown()) {
		m.Config = types.MapNull(types.StringType)
	} else {
		m.Config, _ = types.MapValueFrom(context.Background(), types.StringType, a.Config)
	}
	m.Deployed = types.BoolValue(a.Deployed)
	m.Status = types.StringValue(a.Status)
}

func (m *appModel) configMap(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	if m.Config.IsNull() || m.Config.IsUnknown() {
		return out, nil
	}
	if d := m.Config.ElementsAs(ctx, &out, false); d.HasError() {
		return nil, fmt.Errorf("reading config: %v", d)
	}
	return out, nil
}

func (r *appResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan appModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg, err := plan.configMap(ctx)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("config"), "Invalid app config", err.Error())
		return
	}
	a, err := r.backend.CreateApp(ctx, backend.CreateAppRequest{
		Name: plan.Name.ValueString(), AppHost: plan.AppHost.ValueString(), Version: plan.Version.ValueString(),
		Config: cfg, Deployed: plan.Deployed.ValueBool(),
	})
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error creating app",
			fmt.Sprintf("The app %q was not created.", plan.Name.ValueString()), err)
		return
	}
	tflog.Info(ctx, "Created app", map[string]any{"id": a.ID, "name": a.Name})
	plan.setApp(a)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *appResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state appModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	a, err := r.backend.GetApp(ctx, state.ID.ValueString())
	if backend.IsNotFound(err) {
		tflog.Warn(ctx, "App is gone from the backend; removing it from state", map[string]any{"id": state.ID.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error reading app",
			fmt.Sprintf("The app %s could not be read.", state.ID.ValueString()), err)
		return
	}
	state.setApp(a)
	r.plan.refreshed(a.ID)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *appResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state appModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg, err := plan.configMap(ctx)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("config"), "Invalid app config", err.Error())
		return
	}
	a, err := r.backend.UpdateApp(ctx, backend.UpdateAppRequest{
		ID: state.ID.ValueString(), Name: plan.Name.ValueString(), AppHost: plan.AppHost.ValueString(),
		Version: plan.Version.ValueString(), Config: cfg, Deployed: plan.Deployed.ValueBool(),
	})
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error updating app",
			fmt.Sprintf("The app %q (%s) was not updated.", state.Name.ValueString(), state.ID.ValueString()), err)
		return
	}
	tflog.Info(ctx, "Updated app", map[string]any{"id": a.ID, "name": a.Name, "status": a.Status})
	plan.setApp(a)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *appResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state appModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.backend.DeleteApp(ctx, state.ID.ValueString())
	if err != nil && !backend.IsNotFound(err) {
		addBackendError(&resp.Diagnostics, "Error deleting app",
			fmt.Sprintf("The app %q (%s) was not deleted.", state.Name.ValueString(), state.ID.ValueString()), err)
	}
}

func (r *appResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := req.ID
	if _, err := uuid.Parse(id); err != nil {
		a, err := r.backend.GetAppByName(ctx, id)
		if err != nil {
			addBackendError(&resp.Diagnostics, "Error importing app",
				fmt.Sprintf("No app has the ID or name %q. Import by the app's ID (a UUID) or its name.", id), err)
			return
		}
		id = a.ID
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
}

// ModifyPlan checks at plan time that a new or changed name is free, and
// records an app that this run keeps.
func (r *appResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.backend == nil {
		return
	}
	var name, stateName types.String
	var selfID string
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("name"), &name)...)
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &stateName)...)
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("id"), &selfID)...)
		r.plan.stays(selfID)
	}
	if resp.Diagnostics.HasError() || name.Equal(stateName) {
		return
	}
	checkNameFree(ctx, &resp.Diagnostics, r.plan, path.Root("name"), kindApp, name, selfID, appIDByName(r.backend))
}
