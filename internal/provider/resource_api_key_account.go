package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
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
	_ resource.Resource                = (*apiKeyAccountResource)(nil)
	_ resource.ResourceWithConfigure   = (*apiKeyAccountResource)(nil)
	_ resource.ResourceWithImportState = (*apiKeyAccountResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*apiKeyAccountResource)(nil)
)

// Keys of the account resource's private state.
const (
	// privateRefreshedAt is when Read last saw the account (RFC 3339): the
	// plan decides rotation_period expiry against it, never against the clock.
	privateRefreshedAt = "refreshed_at"
	// privateRegeneratedElsewhere records that Read found a secret_version
	// other than the one in state: the secret was regenerated outside Terraform.
	privateRegeneratedElsewhere = "regenerated_elsewhere"
)

func newAPIKeyAccountResource() resource.Resource { return &apiKeyAccountResource{} }

type apiKeyAccountResource struct {
	backend backend.Backend
}

type apiKeyAccountModel struct {
	ID                  types.String `tfsdk:"id"`
	Name                types.String `tfsdk:"name"`
	Description         types.String `tfsdk:"description"`
	RotationTriggers    types.Map    `tfsdk:"rotation_triggers"`
	RotationPeriod      types.String `tfsdk:"rotation_period"`
	RotateWhenLocked    types.Bool   `tfsdk:"rotate_when_locked"`
	Secret              types.String `tfsdk:"secret"`
	SecretVersion       types.Int64  `tfsdk:"secret_version"`
	SecretCreatedAt     types.String `tfsdk:"secret_created_at"`
	Locked              types.Bool   `tfsdk:"locked"`
	FailedLoginAttempts types.Int64  `tfsdk:"failed_login_attempts"`
}

func (r *apiKeyAccountResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_key_account"
}

func (r *apiKeyAccountResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An API key account: an ID that never changes and a secret that can be regenerated.\n\n" +
			"The secret is regenerated in place (same `id`, `secret_version` + 1) when `rotation_triggers` " +
			"change, when the secret is older than `rotation_period` at the last refresh, when the account " +
			"is found locked (unless `rotate_when_locked = false`), and when it was regenerated outside " +
			"Terraform. Reference `secret` from `apphost_app_secret.value` (or `secret_version` from " +
			"`value_wo_version`) and one apply undeploys every dependent app, regenerates the secret, stores " +
			"the new secret and deploys the apps again. The plan says why it regenerates and names the running " +
			"apps bound to the key. Before it regenerates, the provider refuses if apps still run with a " +
			"secret bound to the account, so apps outside this configuration never lock it.\n\n" +
			"Any plan that is not a rotation keeps `secret`, `secret_version` and `secret_created_at`: editing " +
			"`name` or `description` touches no app secret.\n\n" +
			"An imported account has no `secret` (a secret is shown only when it is created or regenerated) " +
			"until its next regeneration. The imported state has no `rotation_triggers`, so if the " +
			"configuration sets some, the first apply after the import regenerates the secret (and the plan " +
			"says so): that is how the secret of an imported account gets into state.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The account's ID, a UUID. It never changes, not even when the secret is regenerated.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The account's name, unique in the backend. Changing it updates the account in place.",
				Required:            true,
				Validators:          []validator.String{validators.Name()},
			},
			"description": schema.StringAttribute{
				MarkdownDescription: "A description of the account. Defaults to `\"\"`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(""),
				Validators:          []validator.String{stringvalidator.LengthAtMost(backend.MaxDescriptionLength)},
			},
			"rotation_triggers": schema.MapAttribute{
				MarkdownDescription: "Arbitrary map of strings. Any change (including a value not known until apply) " +
					"regenerates the secret in place, like `keepers` of the random provider. " +
					"For example `{ quarter = \"2026-Q4\" }`.",
				ElementType: types.StringType,
				Optional:    true,
			},
			"rotation_period": schema.StringAttribute{
				MarkdownDescription: "Maximum age of the secret as a Go duration such as `\"720h\"` (30 days). " +
					"Each refresh records when it saw the account; a plan regenerates the secret once " +
					"`secret_created_at` + `rotation_period` is not after that time. The plan never reads the " +
					"clock, so a saved plan applies as planned.",
				Optional:   true,
				Validators: []validator.String{validators.PositiveDuration()},
			},
			"rotate_when_locked": schema.BoolAttribute{
				MarkdownDescription: "Plan a regeneration when a refresh finds the account locked (regenerating " +
					"unlocks it). Defaults to `true`. With `false` the plan only warns about the lock.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
			},
			"secret": schema.StringAttribute{
				MarkdownDescription: "The account's secret, set at create and at each regeneration. Null after an " +
					"import until the next regeneration, since a secret can never be read back.",
				Computed:  true,
				Sensitive: true,
			},
			"secret_version": schema.Int64Attribute{
				MarkdownDescription: "1 at create, + 1 at each regeneration. Known at plan time, so " +
					"`value_wo_version = apphost_api_key_account.<name>.secret_version` replaces the app " +
					"secrets that use the key.",
				Computed: true,
			},
			"secret_created_at": schema.StringAttribute{
				MarkdownDescription: "When the current secret was created (RFC 3339).",
				Computed:            true,
			},
			"locked": schema.BoolAttribute{
				MarkdownDescription: "Whether the account is locked by too many failed logins, as of the last refresh.",
				Computed:            true,
			},
			"failed_login_attempts": schema.Int64Attribute{
				MarkdownDescription: "Failed logins since the last success or regeneration, as of the last refresh.",
				Computed:            true,
			},
		},
	}
}

func (r *apiKeyAccountResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	b, msg := configuredBackend(req.ProviderData)
	if msg != "" {
		resp.Diagnostics.AddError("Unexpected provider data", msg)
		return
	}
	r.backend = b
}

// setAccount copies what a read of the backend knows into m.
func (m *apiKeyAccountModel) setAccount(a *backend.Account) {
	m.ID = types.StringValue(a.ID)
	m.Name = types.StringValue(a.Name)
	m.Description = types.StringValue(a.Description)
	m.SecretVersion = types.Int64Value(a.SecretVersion)
	m.SecretCreatedAt = types.StringValue(formatTime(a.SecretCreatedAt))
	m.Locked = types.BoolValue(a.Locked)
	m.FailedLoginAttempts = types.Int64Value(a.FailedLoginAttempts)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (r *apiKeyAccountResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx = maskSecrets(ctx)
	var plan apiKeyAccountModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	a, err := r.backend.CreateAccount(ctx, backend.CreateAccountRequest{
		Name:        plan.Name.ValueString(),
		Description: plan.Description.ValueString(),
	})
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error creating API key account",
			fmt.Sprintf("The API key account %q was not created.", plan.Name.ValueString()), err)
		return
	}
	plan.setAccount(&a.Account)
	plan.Secret = types.StringValue(a.Secret)
	tflog.Info(ctx, "Created API key account", map[string]any{"id": a.ID, "name": a.Name})
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *apiKeyAccountResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx = maskSecrets(ctx)
	var state apiKeyAccountModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	a, err := r.backend.GetAccount(ctx, state.ID.ValueString())
	if backend.IsNotFound(err) {
		tflog.Warn(ctx, "API key account is gone from the backend; removing it from state",
			map[string]any{"id": state.ID.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error reading API key account",
			fmt.Sprintf("The API key account %s could not be read.", state.ID.ValueString()), err)
		return
	}

	if !state.Secret.IsNull() && !state.SecretVersion.IsNull() && state.SecretVersion.ValueInt64() != a.SecretVersion {
		tflog.Warn(ctx, "API key account secret was regenerated outside Terraform", map[string]any{
			"id": a.ID, "state_secret_version": state.SecretVersion.ValueInt64(), "secret_version": a.SecretVersion,
		})
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRegeneratedElsewhere, []byte("true"))...)
	}
	state.setAccount(a)
	if state.Description.IsNull() {
		state.Description = types.StringValue(a.Description)
	}
	if state.RotateWhenLocked.IsNull() {
		state.RotateWhenLocked = types.BoolValue(true)
	}
	now, _ := json.Marshal(time.Now().UTC().Format(time.RFC3339Nano))
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRefreshedAt, now)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// rotation is what a plan decides about the secret.
type rotation struct {
	// reasons are certain causes of a regeneration.
	reasons []string
	// maybe are causes that depend on values known only at apply.
	maybe []string
}

func privateFlag(ctx context.Context, p interface {
	GetKey(context.Context, string) ([]byte, diag.Diagnostics)
}, key string) bool {
	if p == nil {
		return false
	}
	v, _ := p.GetKey(ctx, key)
	return string(v) == "true"
}

// decideRotation compares the plan with the state and the private state of
// the last refresh. It never reads the clock.
func decideRotation(ctx context.Context, plan, state apiKeyAccountModel, refreshedAt time.Time, regeneratedElsewhere bool) rotation {
	var rot rotation

	switch {
	case plan.RotationTriggers.IsUnknown() || hasUnknownElement(plan.RotationTriggers):
		rot.maybe = append(rot.maybe, "rotation_triggers are not known until apply")
	case !sameStringMap(plan.RotationTriggers, state.RotationTriggers):
		rot.reasons = append(rot.reasons, "rotation_triggers changed")
	}

	switch {
	case plan.RotationPeriod.IsUnknown():
		rot.maybe = append(rot.maybe, "rotation_period is not known until apply")
	case !plan.RotationPeriod.IsNull():
		period, err := time.ParseDuration(plan.RotationPeriod.ValueString())
		created, err2 := time.Parse(time.RFC3339, state.SecretCreatedAt.ValueString())
		if err == nil && err2 == nil && period > 0 && !refreshedAt.IsZero() && !created.Add(period).After(refreshedAt) {
			rot.reasons = append(rot.reasons, fmt.Sprintf(
				"the secret, created at %s, was older than rotation_period (%s) at the last refresh (%s)",
				state.SecretCreatedAt.ValueString(), plan.RotationPeriod.ValueString(), formatTime(refreshedAt)))
		}
	}

	if state.Locked.ValueBool() {
		switch {
		case plan.RotateWhenLocked.IsUnknown():
			rot.maybe = append(rot.maybe, "the account is locked and rotate_when_locked is not known until apply")
		case plan.RotateWhenLocked.ValueBool():
			rot.reasons = append(rot.reasons, fmt.Sprintf("the account is locked (%d failed logins)",
				state.FailedLoginAttempts.ValueInt64()))
		}
	}

	if regeneratedElsewhere && !state.Secret.IsNull() {
		rot.reasons = append(rot.reasons, "the secret was regenerated outside Terraform, or by an apply interrupted before it saved the "+
			"new secret (the secret in state is stale)")
	}
	tflog.Debug(ctx, "Decided API key account rotation", map[string]any{
		"reasons": rot.reasons, "maybe": rot.maybe,
	})
	return rot
}

func hasUnknownElement(m types.Map) bool {
	for _, v := range m.Elements() {
		if v.IsUnknown() {
			return true
		}
	}
	return false
}

// sameStringMap compares two maps, with null equal to empty.
func sameStringMap(a, b types.Map) bool {
	ae, be := a.Elements(), b.Elements()
	if len(ae) != len(be) {
		return false
	}
	for k, v := range ae {
		w, ok := be[k]
		if !ok || !v.Equal(w) {
			return false
		}
	}
	return true
}

func (r *apiKeyAccountResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan apiKeyAccountModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}

	if r.backend != nil {
		selfID := ""
		if !req.State.Raw.IsNull() {
			resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("id"), &selfID)...)
		}
		var stateName types.String
		if !req.State.Raw.IsNull() {
			resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &stateName)...)
		}
		if !plan.Name.Equal(stateName) {
			checkNameFree(ctx, &resp.Diagnostics, path.Root("name"), "API key account", "apphost_api_key_account",
				plan.Name, selfID, accountIDByName(r.backend))
		}
	}

	if req.State.Raw.IsNull() {
		plan.SecretVersion = types.Int64Value(1)
		plan.Locked = types.BoolValue(false)
		plan.FailedLoginAttempts = types.Int64Value(0)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}

	var state apiKeyAccountModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}

	var refreshedAt time.Time
	if req.Private != nil {
		if raw, _ := req.Private.GetKey(ctx, privateRefreshedAt); len(raw) > 0 {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				refreshedAt, _ = time.Parse(time.RFC3339Nano, s)
			}
		}
	}
	rot := decideRotation(ctx, plan, state, refreshedAt, privateFlag(ctx, req.Private, privateRegeneratedElsewhere))

	switch {
	case len(rot.reasons) > 0:
		plan.Secret = types.StringUnknown()
		plan.SecretVersion = types.Int64Value(state.SecretVersion.ValueInt64() + 1)
		plan.SecretCreatedAt = types.StringUnknown()
		plan.Locked = types.BoolValue(false)
		plan.FailedLoginAttempts = types.Int64Value(0)
		r.warnRotation(ctx, &resp.Diagnostics, state, rot.reasons, false)
	case len(rot.maybe) > 0:
		plan.Secret = types.StringUnknown()
		plan.SecretVersion = types.Int64Unknown()
		plan.SecretCreatedAt = types.StringUnknown()
		plan.Locked = types.BoolUnknown()
		plan.FailedLoginAttempts = types.Int64Unknown()
		r.warnRotation(ctx, &resp.Diagnostics, state, rot.maybe, true)
	default:
		plan.Secret = state.Secret
		plan.SecretVersion = state.SecretVersion
		plan.SecretCreatedAt = state.SecretCreatedAt
		plan.Locked = state.Locked
		plan.FailedLoginAttempts = state.FailedLoginAttempts
		if state.Locked.ValueBool() && !plan.RotateWhenLocked.IsUnknown() && !plan.RotateWhenLocked.ValueBool() {
			resp.Diagnostics.AddWarning("API key account is locked",
				fmt.Sprintf("The API key account %q (%s) is locked after %d failed logins: every login with it "+
					"fails, even with the right secret. rotate_when_locked is false, so this plan does not "+
					"regenerate its secret. To unlock it, regenerate the secret: change its rotation_triggers, "+
					"or set rotate_when_locked = true.",
					state.Name.ValueString(), state.ID.ValueString(), state.FailedLoginAttempts.ValueInt64()))
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// warnRotation adds the plan's warning about a regeneration: why, and the
// running apps bound to the key.
func (r *apiKeyAccountResource) warnRotation(ctx context.Context, diags *diag.Diagnostics, state apiKeyAccountModel, reasons []string, maybe bool) {
	var apps []string
	if r.backend != nil {
		running := true
		list, err := r.backend.ListApps(ctx, backend.ListAppsRequest{BoundToAccountID: state.ID.ValueString(), Running: &running})
		if err != nil {
			tflog.Warn(ctx, "Could not list the apps bound to the API key account", map[string]any{"error": err.Error()})
		}
		for _, a := range list {
			apps = append(apps, a.Name)
		}
		sort.Strings(apps)
	}
	verb := "regenerates"
	if maybe {
		verb = "may regenerate"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "This plan %s the secret of API key account %q (%s) because %s.",
		verb, state.Name.ValueString(), state.ID.ValueString(), strings.Join(reasons, "; "))
	if len(apps) == 0 {
		b.WriteString("\n\nNo running app has a secret bound to this key.")
	} else {
		fmt.Fprintf(&b, "\n\nRunning apps bound to this key: %s. The apphost_app_secret replacements in this "+
			"plan undeploy the ones managed by this configuration before the regeneration and deploy them again "+
			"with the new secret after it. Any app not managed by this configuration must be undeployed before "+
			"the apply, or the apply will refuse to regenerate the secret.", joinNames(apps))
	}
	diags.AddWarning("API key account secret will be regenerated", b.String())
}

func (r *apiKeyAccountResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx = maskSecrets(ctx)
	var plan, state apiKeyAccountModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	plan.ID = state.ID

	if !plan.Name.Equal(state.Name) || !plan.Description.Equal(state.Description) {
		a, err := r.backend.UpdateAccount(ctx, backend.UpdateAccountRequest{
			ID: id, Name: plan.Name.ValueString(), Description: plan.Description.ValueString(),
		})
		if err != nil {
			addBackendError(&resp.Diagnostics, "Error updating API key account",
				fmt.Sprintf("The API key account %q (%s) was not updated.", state.Name.ValueString(), id), err)
			return
		}
		plan.Name = types.StringValue(a.Name)
		plan.Description = types.StringValue(a.Description)
	}

	if plan.Secret.IsUnknown() {
		a, err := r.backend.RegenerateSecret(ctx, backend.RegenerateRequest{
			ID: id, IdempotencyKey: uuid.NewString(), RefuseIfAppsRunning: true,
		})
		if err != nil {
			if backend.IsAppsRunning(err) {
				resp.Diagnostics.AddError("Error regenerating API key account secret",
					r.appsRunningDetail(ctx, plan.Name.ValueString(), id, "regenerate its secret",
						"Nothing was regenerated: the account keeps its current secret.", err))
			} else {
				addBackendError(&resp.Diagnostics, "Error regenerating API key account secret",
					fmt.Sprintf("The secret of API key account %q (%s) was not regenerated.", plan.Name.ValueString(), id), err)
			}
			// Keep what UpdateAccount changed; the secret is as before.
			state.Name, state.Description = plan.Name, plan.Description
			resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
			return
		}
		plan.setAccount(&a.Account)
		plan.Secret = types.StringValue(a.Secret)
		// Save the new secret at once: nothing after this may lose it.
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		tflog.Info(ctx, "Regenerated API key account secret", map[string]any{
			"id": id, "secret_version": a.SecretVersion,
		})
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRegeneratedElsewhere, nil)...)
		return
	}

	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// appsRunningDetail explains a refusal because running apps use the account.
func (r *apiKeyAccountResource) appsRunningDetail(ctx context.Context, name, id, what, nothing string, err error) string {
	var apps []string
	var be *backend.Error
	if errors.As(err, &be) {
		apps = be.Apps
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The backend refused to %s API key account %q (%s): these apps still run with a secret "+
		"bound to it: %s. %s", what, name, id, joinNames(apps), nothing)

	deployed := true
	list, lerr := r.backend.ListApps(ctx, backend.ListAppsRequest{Deployed: &deployed})
	if lerr == nil {
		var stopped []string
		for _, a := range list {
			if a.Status == backend.StatusStopped {
				stopped = append(stopped, a.Name)
			}
		}
		sort.Strings(stopped)
		if len(stopped) > 0 {
			fmt.Fprintf(&b, "\n\nThis apply already stopped these apps for the rotation: %s. They are meant to "+
				"be deployed; the next apply deploys them again.", joinNames(stopped))
		}
	}
	b.WriteString("\n\nUndeploy the listed apps (they are not managed by this configuration, or not through " +
		"the key's secret), or bind them through apphost_app_secret resources in this configuration " +
		"(value = apphost_api_key_account.<name>.secret, or value_wo_version = ...secret_version), so that " +
		"Terraform undeploys them first. Do not use create_before_destroy on apphost_app_secret: it reverses " +
		"that order. Then apply again.")
	fmt.Fprintf(&b, "\n\nOriginal error: %s", err)
	return b.String()
}

func (r *apiKeyAccountResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx = maskSecrets(ctx)
	var state apiKeyAccountModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	err := r.backend.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: id, RefuseIfAppsRunning: true})
	switch {
	case err == nil, backend.IsNotFound(err):
		tflog.Info(ctx, "Deleted API key account", map[string]any{"id": id})
	case backend.IsAppsRunning(err):
		resp.Diagnostics.AddError("Error deleting API key account",
			r.appsRunningDetail(ctx, state.Name.ValueString(), id, "delete",
				"Nothing was deleted.", err))
	default:
		addBackendError(&resp.Diagnostics, "Error deleting API key account",
			fmt.Sprintf("The API key account %q (%s) was not deleted.", state.Name.ValueString(), id), err)
	}
}

func (r *apiKeyAccountResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := req.ID
	if _, err := uuid.Parse(id); err != nil {
		a, err := r.backend.GetAccountByName(ctx, id)
		if err != nil {
			addBackendError(&resp.Diagnostics, "Error importing API key account",
				fmt.Sprintf("No API key account has the ID or name %q. Import by the account's ID (a UUID) or "+
					"its name.", id), err)
			return
		}
		id = a.ID
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("rotate_when_locked"), true)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("rotation_triggers"), types.MapNull(types.StringType))...)
}
