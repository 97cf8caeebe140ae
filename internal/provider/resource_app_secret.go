package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/validators"
)

var (
	_ resource.Resource                     = (*appSecretResource)(nil)
	_ resource.ResourceWithConfigure        = (*appSecretResource)(nil)
	_ resource.ResourceWithImportState      = (*appSecretResource)(nil)
	_ resource.ResourceWithConfigValidators = (*appSecretResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*appSecretResource)(nil)
)

func newAppSecretResource() resource.Resource { return &appSecretResource{} }

type appSecretResource struct {
	backend backend.Backend
}

type appSecretModel struct {
	ID              types.String `tfsdk:"id"`
	AppID           types.String `tfsdk:"app_id"`
	Name            types.String `tfsdk:"name"`
	APIKeyAccountID types.String `tfsdk:"api_key_account_id"`
	Value           types.String `tfsdk:"value"`
	ValueWO         types.String `tfsdk:"value_wo"`
	ValueWOVersion  types.Int64  `tfsdk:"value_wo_version"`
}

func (r *appSecretResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app_secret"
}

func (r *appSecretResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An app's copy of an API key account's secret, and the binding that makes the app " +
			"a dependent of that key (`api_key_account_id`).\n\n" +
			"Set the value with `value = apphost_api_key_account.<name>.secret`, or with the write-only pair " +
			"`value_wo` + `value_wo_version = apphost_api_key_account.<name>.secret_version` (Terraform 1.11+; " +
			"the value is then never stored in state or plan), or leave both out: the resource then manages " +
			"only the binding and leaves the stored value as it is.\n\n" +
			"**Any change of the value is a replacement**: destroying the secret undeploys the app and removes " +
			"the secret; creating it stores the value and deploys the app again if it is meant to be " +
			"deployed. When the key is rotated, Terraform therefore undeploys the app before the regeneration " +
			"and deploys it with the new secret after it. Do not use `create_before_destroy` on this resource: " +
			"it reverses that order (the provider then refuses to regenerate while the app runs).\n\n" +
			"Import with `APP_ID/NAME` (or `APP_NAME/NAME`). A value can never be read back, so an imported " +
			"secret has no `value` in state: the next plan replaces it if the configuration sets one.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "`APP_ID/NAME`.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"app_id": schema.StringAttribute{
				MarkdownDescription: "ID of the app (`apphost_app.<name>.id`). Changing it forces a new resource.",
				Required:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Name of the secret in the app, usually the key account's name. Changing it forces a new resource.",
				Required:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{validators.Name()},
			},
			"api_key_account_id": schema.StringAttribute{
				MarkdownDescription: "ID of the API key account this secret authenticates as " +
					"(`apphost_api_key_account.<name>.id`). It makes the app a dependent of the key: the key " +
					"is not regenerated or deleted while the app runs. Changing it forces a new resource.",
				Optional:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"value": schema.StringAttribute{
				MarkdownDescription: "The secret value, usually `apphost_api_key_account.<name>.secret`. Stored " +
					"(sensitive) in state. Any change forces a new resource. Conflicts with `value_wo`.",
				Optional:      true,
				Sensitive:     true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{stringvalidator.LengthAtMost(backend.MaxSecretValueLength)},
			},
			"value_wo": schema.StringAttribute{
				MarkdownDescription: "The secret value, write-only: never stored in plan or state (Terraform 1.11+). " +
					"Requires `value_wo_version`; the value is written only when the resource is created, so " +
					"change `value_wo_version` to write a new one.",
				Optional:   true,
				Sensitive:  true,
				WriteOnly:  true,
				Validators: []validator.String{stringvalidator.LengthAtMost(backend.MaxSecretValueLength)},
			},
			"value_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `value_wo`; any change forces a new resource, which writes the " +
					"current `value_wo`. Use `apphost_api_key_account.<name>.secret_version`.",
				Optional:      true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
		},
	}
}

func (r *appSecretResource) ConfigValidators(_ context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.Conflicting(path.MatchRoot("value"), path.MatchRoot("value_wo")),
		resourcevalidator.RequiredTogether(path.MatchRoot("value_wo"), path.MatchRoot("value_wo_version")),
	}
}

func (r *appSecretResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	b, msg := configuredBackend(req.ProviderData)
	if msg != "" {
		resp.Diagnostics.AddError("Unexpected provider data", msg)
		return
	}
	r.backend = b
}

// ModifyPlan checks at plan time that the app and the key account exist, and
// computes the id when app_id and name are known.
func (r *appSecretResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() {
		return
	}
	var plan appSecretModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if r.backend != nil {
		checkExists(ctx, &resp.Diagnostics, path.Root("app_id"), "app", plan.AppID, func(ctx context.Context, id string) error {
			_, err := r.backend.GetApp(ctx, id)
			return err
		})
		checkExists(ctx, &resp.Diagnostics, path.Root("api_key_account_id"), "API key account", plan.APIKeyAccountID,
			func(ctx context.Context, id string) error {
				_, err := r.backend.GetAccount(ctx, id)
				return err
			})
	}
	if !plan.AppID.IsUnknown() && !plan.Name.IsUnknown() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("id"),
			appSecretID(plan.AppID.ValueString(), plan.Name.ValueString()))...)
	}
}

func appSecretID(appID, name string) string { return appID + "/" + name }

func (r *appSecretResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx = maskSecrets(ctx)
	var plan, config appSecretModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var value *string
	switch {
	case !plan.Value.IsNull():
		v := plan.Value.ValueString()
		value = &v
	case !config.ValueWO.IsNull():
		v := config.ValueWO.ValueString()
		value = &v
	}
	appID, name := plan.AppID.ValueString(), plan.Name.ValueString()
	s, err := r.backend.PutAppSecret(ctx, backend.PutAppSecretRequest{
		AppID: appID, Name: name, AccountID: plan.APIKeyAccountID.ValueString(), Value: value, Redeploy: true,
	})
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error storing app secret",
			fmt.Sprintf("The secret %q of app %s was not stored, and the app was not deployed again. If the "+
				"apply replaced this secret, the app stays undeployed until an apply succeeds.", name, appID), err)
		return
	}
	tflog.Info(ctx, "Stored app secret", map[string]any{
		"app_id": appID, "name": name, "api_key_account_id": s.AccountID, "has_value": s.HasValue,
	})
	plan.ID = types.StringValue(appSecretID(appID, name))
	plan.ValueWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *appSecretResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx = maskSecrets(ctx)
	var state appSecretModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, err := r.backend.GetAppSecret(ctx, state.AppID.ValueString(), state.Name.ValueString())
	if backend.IsNotFound(err) {
		tflog.Warn(ctx, "App secret is gone from the backend; removing it from state", map[string]any{"id": state.ID.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error reading app secret",
			fmt.Sprintf("The app secret %s could not be read.", state.ID.ValueString()), err)
		return
	}
	state.ID = types.StringValue(appSecretID(s.AppID, s.Name))
	state.AppID = types.StringValue(s.AppID)
	state.Name = types.StringValue(s.Name)
	if s.AccountID == "" {
		state.APIKeyAccountID = types.StringNull()
	} else {
		state.APIKeyAccountID = types.StringValue(s.AccountID)
	}
	// The value is never read back: keep value and value_wo_version as they are.
	state.ValueWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update only happens when nothing but value_wo changed (every other
// argument forces a replacement); the write-only value is written at create.
func (r *appSecretResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan appSecretModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ValueWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *appSecretResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx = maskSecrets(ctx)
	var state appSecretModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.backend.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{
		AppID: state.AppID.ValueString(), Name: state.Name.ValueString(), Undeploy: true,
	})
	if err != nil && !backend.IsNotFound(err) {
		addBackendError(&resp.Diagnostics, "Error deleting app secret",
			fmt.Sprintf("The app secret %s was not deleted.", state.ID.ValueString()), err)
		return
	}
	tflog.Info(ctx, "Deleted app secret (app undeployed)", map[string]any{"id": state.ID.ValueString()})
}

func (r *appSecretResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	appRef, name, ok := strings.Cut(req.ID, "/")
	if !ok || appRef == "" || name == "" {
		resp.Diagnostics.AddError("Invalid import ID for apphost_app_secret",
			fmt.Sprintf("The import ID %q is not APP_ID/NAME. Use the app's ID (or name), a slash and the "+
				"secret's name, for example 0b6c.../siem-forwarder.", req.ID))
		return
	}
	appID := appRef
	if _, err := uuid.Parse(appRef); err != nil {
		a, err := r.backend.GetAppByName(ctx, appRef)
		if err != nil {
			addBackendError(&resp.Diagnostics, "Error importing app secret",
				fmt.Sprintf("No app has the ID or name %q.", appRef), err)
			return
		}
		appID = a.ID
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), appSecretID(appID, name))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("app_id"), appID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
}
