package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
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
	_ resource.ResourceWithValidateConfig   = (*appSecretResource)(nil)
)

func newAppSecretResource() resource.Resource { return &appSecretResource{} }

type appSecretResource struct {
	backend backend.Backend
	plan    *planLedger
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
		MarkdownDescription: "An app's copy of an API key account's secret, **bound** to the account it " +
			"authenticates as (`api_key_account_id`): the binding makes the app a dependent of that key.\n\n" +
			"**Bound, no value (recommended):** the backend fills the secret with the account's current secret " +
			"when the binding is created, and again at every rotation of the account, in the rotation's own " +
			"transaction. The secret never passes through Terraform; with `expose_secret = false` on the key it " +
			"is in no plan and no state.\n\n" +
			"**Bound, with a value** (`value = apphost_api_key_account.<name>.secret`, or `value_wo` + " +
			"`value_wo_version = ...secret_version`): still works, and the plan warns that a bound secret needs " +
			"no value. The backend refuses a value that is not the account's current secret (a stale copy would " +
			"make the app fail its logins and lock the account). At a rotation the value's change is an in-place " +
			"update that changes nothing in the backend (the rotation already stored it).\n\n" +
			"**Unbound** (no `api_key_account_id`): needs a value; an opaque app.config secret the App Host never " +
			"logs in with. Changing it is an in-place update that redeploys the app if it runs.\n\n" +
			"Destroying an app secret undeploys the app, removes the secret and deploys the app again if it is " +
			"meant to be deployed, unless the secret is in the app's `secret_names`: then the app waits, " +
			"`pending`, until a secret of that name is put again, and starts once, with it. Import with `APP_ID/NAME` (or `APP_NAME/NAME`); an imported secret has no " +
			"value in state, and a configuration without a value plans nothing for it.",
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
					"(`apphost_api_key_account.<name>.id`): the binding. Every rotation of that account " +
					"redeploys the app with the new secret, and the account cannot be destroyed while bound. " +
					"Unset for an unbound secret, which needs a value. Changing it forces a new resource.",
				Optional:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"value": schema.StringAttribute{
				MarkdownDescription: "The secret value, stored (sensitive) in state. Needed by an unbound secret; " +
					"a bound secret needs none (the backend fills it), and a bound value must be the account's " +
					"current secret. A change is an in-place update; storing the value the backend already " +
					"holds changes nothing. Conflicts with `value_wo`.",
				Optional:   true,
				Sensitive:  true,
				Validators: []validator.String{stringvalidator.LengthAtMost(backend.MaxSecretValueLength)},
			},
			"value_wo": schema.StringAttribute{
				MarkdownDescription: "The secret value, write-only (Terraform 1.11+): this attribute is never stored " +
					"in plan or state. Requires `value_wo_version`; the value is written at create and whenever " +
					"`value_wo_version` changes. Note that `value_wo = apphost_api_key_account.<name>.secret` " +
					"keeps the secret out of this resource's state only: the key's `secret` is in the key's " +
					"state unless the key has `expose_secret = false`. Prefer a bound secret with no value.",
				Optional:   true,
				Sensitive:  true,
				WriteOnly:  true,
				Validators: []validator.String{stringvalidator.LengthAtMost(backend.MaxSecretValueLength)},
			},
			"value_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `value_wo`; a change is an in-place update that writes the " +
					"current `value_wo`.",
				Optional: true,
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

// ValidateConfig requires a value on an unbound secret.
func (r *appSecretResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var config appSecretModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if config.APIKeyAccountID.IsNull() && config.Value.IsNull() && config.ValueWO.IsNull() && config.ValueWOVersion.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("value"), "Unbound app secret needs a value",
			"This app secret has no api_key_account_id, so it is unbound: an opaque secret the App Host never logs "+
				"in with, and it needs a value. Set value (or value_wo with value_wo_version), or bind it to the "+
				"key account it authenticates as with api_key_account_id = apphost_api_key_account.<name>.id "+
				"(then it needs no value).")
	}
}

func (r *appSecretResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d := configured(req.ProviderData, &resp.Diagnostics); d != nil {
		r.backend, r.plan = d.backend, d.plan
	}
}

// ModifyPlan records a destroy or replacement in the run's ledger (for the
// key account's destroy check), warns that a bound secret needs no value,
// checks at plan time that the app and the key account exist, and computes
// the id when app_id and name are known.
func (r *appSecretResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var state appSecretModel
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	}
	if req.Plan.Raw.IsNull() {
		r.plan.secretLeaves(appSecretID(state.AppID.ValueString(), state.Name.ValueString()))
		return
	}
	var plan, config appSecretModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !req.State.Raw.IsNull() && (!plan.AppID.Equal(state.AppID) || !plan.Name.Equal(state.Name) ||
		!plan.APIKeyAccountID.Equal(state.APIKeyAccountID)) {
		// Replaced (each of these forces a new resource): the old binding goes.
		r.plan.secretLeaves(appSecretID(state.AppID.ValueString(), state.Name.ValueString()))
	}
	if !config.APIKeyAccountID.IsNull() && (!config.Value.IsNull() || !config.ValueWOVersion.IsNull()) {
		resp.Diagnostics.AddAttributeWarning(path.Root("value"),
			fmt.Sprintf("App secret %q is bound and needs no value", plan.Name.ValueString()),
			"This app secret is bound to an API key account (api_key_account_id), so the backend fills it with the "+
				"account's current secret and reseals it at every rotation of the account. Its value (value, or "+
				"value_wo with value_wo_version) changes nothing, and passes the secret through Terraform. Remove "+
				"value (or value_wo and value_wo_version), and consider expose_secret = false on the key account.")
	}
	if !req.State.Raw.IsNull() {
		return
	}
	if r.backend != nil {
		checkExists(ctx, &resp.Diagnostics, path.Root("app_id"), kindApp, plan.AppID, func(ctx context.Context, id string) error {
			_, err := r.backend.GetApp(ctx, id)
			return err
		})
		checkExists(ctx, &resp.Diagnostics, path.Root("api_key_account_id"), kindAccount, plan.APIKeyAccountID,
			func(ctx context.Context, id string) error {
				acc, err := r.backend.GetAccount(ctx, id)
				if err == nil && acc.AppHost != "" {
					addError(&resp.Diagnostics, path.Root("api_key_account_id"), "App Host account cannot be bound",
						fmt.Sprintf("The API key account %q (%s) is the identity of App Host %q, and an App Host's "+
							"account is never bound to an app.", acc.Name, acc.ID, acc.AppHost),
						"Bind the app secret to another API key account.", nil)
				}
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
		AppID: appID, Name: name, AccountID: plan.APIKeyAccountID.ValueString(), Value: value,
	})
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error storing app secret",
			fmt.Sprintf("The secret %q of app %s was not stored; the app is as it was.", name, appID), err)
		return
	}
	tflog.Info(ctx, "Stored app secret", map[string]any{
		"app_id": appID, "name": name, "api_key_account_id": s.AccountID, "has_value": s.HasValue,
	})
	plan.ID = types.StringValue(appSecretID(appID, name))
	plan.ValueWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	r.awaitAppStart(ctx, &resp.Diagnostics, appID)
}

// awaitAppStart waits, when the secret just put made its app start (the
// last of its secret_names, or a redeploy with the new value), until the
// app runs, as a deploy of the app itself does: the apply ends with the app
// running, or with a warning that it did not start.
func (r *appSecretResource) awaitAppStart(ctx context.Context, diags *diag.Diagnostics, appID string) {
	a, err := r.backend.GetApp(ctx, appID)
	if err != nil || !a.Deployed || a.Status != backend.StatusStarting {
		return
	}
	apps := &appResource{backend: r.backend}
	apps.awaitStart(ctx, diags, &appModel{}, a, "create", 0)
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

// Update stores a changed value: value, or value_wo when value_wo_version
// changed (every other argument forces a replacement). The backend changes
// nothing when it already holds the value, as after a rotation.
func (r *appSecretResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx = maskSecrets(ctx)
	var plan, state, config appSecretModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var value *string
	switch {
	case !plan.Value.IsNull() && !plan.Value.Equal(state.Value):
		v := plan.Value.ValueString()
		value = &v
	case !config.ValueWO.IsNull() && !plan.ValueWOVersion.Equal(state.ValueWOVersion):
		v := config.ValueWO.ValueString()
		value = &v
	}
	if value != nil {
		appID, name := plan.AppID.ValueString(), plan.Name.ValueString()
		if _, err := r.backend.PutAppSecret(ctx, backend.PutAppSecretRequest{
			AppID: appID, Name: name, AccountID: plan.APIKeyAccountID.ValueString(), Value: value,
		}); err != nil {
			addBackendError(&resp.Diagnostics, "Error storing app secret",
				fmt.Sprintf("The new value of secret %q of app %s was not stored; the app keeps the value it had.", name, appID), err)
			return
		}
		tflog.Info(ctx, "Stored app secret value", map[string]any{"app_id": appID, "name": name})
	}
	plan.ValueWO = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	if value != nil {
		r.awaitAppStart(ctx, &resp.Diagnostics, plan.AppID.ValueString())
	}
}

func (r *appSecretResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx = maskSecrets(ctx)
	var state appSecretModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.backend.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{
		AppID: state.AppID.ValueString(), Name: state.Name.ValueString(),
	})
	if err != nil && !backend.IsNotFound(err) {
		addBackendError(&resp.Diagnostics, "Error deleting app secret",
			fmt.Sprintf("The app secret %s was not deleted.", state.ID.ValueString()), err)
		return
	}
	tflog.Info(ctx, "Deleted app secret (the app redeployed without it)", map[string]any{"id": state.ID.ValueString()})
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
