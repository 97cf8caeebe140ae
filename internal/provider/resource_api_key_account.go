package provider

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
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
	_ resource.Resource                 = (*apiKeyAccountResource)(nil)
	_ resource.ResourceWithConfigure    = (*apiKeyAccountResource)(nil)
	_ resource.ResourceWithImportState  = (*apiKeyAccountResource)(nil)
	_ resource.ResourceWithModifyPlan   = (*apiKeyAccountResource)(nil)
	_ resource.ResourceWithUpgradeState = (*apiKeyAccountResource)(nil)
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
	now     func() time.Time
	plan    *planLedger
	server  serverInfo
}

type apiKeyAccountModel struct {
	ID                  types.String   `tfsdk:"id"`
	Name                types.String   `tfsdk:"name"`
	Description         types.String   `tfsdk:"description"`
	RotationTriggers    types.Map      `tfsdk:"rotation_triggers"`
	RotationPeriod      types.String   `tfsdk:"rotation_period"`
	RotateWhenLocked    types.Bool     `tfsdk:"rotate_when_locked"`
	ExposeSecret        types.Bool     `tfsdk:"expose_secret"`
	Secret              types.String   `tfsdk:"secret"`
	SecretVersion       types.Int64    `tfsdk:"secret_version"`
	SecretCreatedAt     types.String   `tfsdk:"secret_created_at"`
	Locked              types.Bool     `tfsdk:"locked"`
	FailedLoginAttempts types.Int64    `tfsdk:"failed_login_attempts"`
	AppHost             types.String   `tfsdk:"app_host"`
	RotationStrategy    types.String   `tfsdk:"rotation_strategy"`
	OverlapPeriod       types.String   `tfsdk:"overlap_period"`
	Timeouts            timeouts.Value `tfsdk:"timeouts"`
}

// defaultOverlapPeriod is backend.DefaultOverlapPeriod as the docs write it.
var defaultOverlapPeriod = shortDuration(backend.DefaultOverlapPeriod)

// defaultRotationTimeout bounds how long an apply waits for a rotation
// (its App Hosts' stops and healthy starts) unless timeouts.update says.
const defaultRotationTimeout = 30 * time.Minute

func (r *apiKeyAccountResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_key_account"
}

func (r *apiKeyAccountResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Version: 1,
		MarkdownDescription: "An API key account: an ID that never changes and a secret that can be regenerated.\n\n" +
			"The secret is rotated in place (same `id`, `secret_version` + 1) when `rotation_triggers` " +
			"change, when the secret is older than `rotation_period` at the last refresh, when the account " +
			"is found locked (unless `rotate_when_locked = false`), when `expose_secret` changes, and when the " +
			"secret was regenerated outside Terraform while the state holds a copy.\n\n" +
			"**A rotation is one backend operation.** The apply makes one call, in which the backend undeploys " +
			"every app meant to be deployed that has an `apphost_app_secret` bound to the account (in this " +
			"configuration or any other), regenerates the secret, seals the new secret into every bound app " +
			"secret and deploys the apps again: each app is down for milliseconds, however many keys the apply " +
			"rotates. With bound app secrets and `expose_secret = false`, the secret never passes through " +
			"Terraform. The plan says, for each rotating key, why and which apps the apply redeploys. If the " +
			"account was rotated elsewhere since the plan was made, the apply changes nothing and says to plan " +
			"again.\n\n" +
			"Destroying an account is refused while any app secret is bound to it.\n\n" +
			"Any plan that is not a rotation keeps `secret`, `secret_version` and `secret_created_at`: editing " +
			"`name` or `description` touches no app secret.\n\n" +
			"An imported account has no `secret` in state (a secret is shown only when it is created or regenerated) " +
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
			"expose_secret": schema.BoolAttribute{
				MarkdownDescription: "Whether the backend shows the secret to Terraform at create and at each " +
					"rotation. Defaults to `true`. With `false` (recommended with bound app secrets) no backend " +
					"response ever carries the secret, so it is in no plan, no state and, with a remote backend, " +
					"not even in the provider's memory; bound app secrets still receive it. Stored by the backend " +
					"with the account. Any change rotates the secret: turning it off leaves no live secret in old " +
					"state files, turning it on needs a new secret to show.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
			},
			"secret": schema.StringAttribute{
				MarkdownDescription: "The account's secret, set at create and at each rotation when `expose_secret` " +
					"is `true`; null when it is `false`, and after an import until the next rotation, since a " +
					"secret can never be read back.",
				Computed:  true,
				Sensitive: true,
			},
			"secret_version": schema.Int64Attribute{
				MarkdownDescription: "1 at create, + 1 at each rotation. Known at plan time: a plan that " +
					"rotates shows the new version.",
				Computed: true,
			},
			"secret_created_at": schema.StringAttribute{
				MarkdownDescription: descAccountSecretCreated,
				Computed:            true,
			},
			"locked": schema.BoolAttribute{
				MarkdownDescription: descAccountLocked + " As of the last refresh.",
				Computed:            true,
			},
			"failed_login_attempts": schema.Int64Attribute{
				MarkdownDescription: descAccountFailedLogins + " As of the last refresh.",
				Computed:            true,
			},
			"app_host": schema.StringAttribute{
				MarkdownDescription: descAccountAppHost + " Changing it forces a new account. Needs an apphost " +
					"server of API version 3 or later.",
				Optional:      true,
				Validators:    []validator.String{validators.Name()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"rotation_strategy": schema.StringAttribute{
				MarkdownDescription: descAccountRotationStrategy + " Defaults to `\"" + backend.StrategyStopFirst + "\"`. " +
					"Changing it updates the account in place and rotates nothing; the next rotation uses it. An " +
					"`overlap` rotation of a locked account is carried out as `stop_first` (its current secret logs in " +
					"no more: there is nothing to overlap with). `overlap` needs an apphost server of API version 3 or later.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(backend.StrategyStopFirst),
				Validators: []validator.String{validators.RotationStrategy()},
			},
			"overlap_period": schema.StringAttribute{
				MarkdownDescription: descAccountOverlapPeriod + " Defaults to `\"" + defaultOverlapPeriod + "\"`. The plan " +
					"warns when the `start_timeout`s of the apps bound to the account add up to more. Changing it " +
					"updates the account in place and rotates nothing. A duration spelled otherwise (`\"15m0s\"` for " +
					"`\"15m\"`) is no change.",
				Optional:      true,
				Computed:      true,
				Default:       stringdefault.StaticString(defaultOverlapPeriod),
				Validators:    []validator.String{validators.OverlapPeriod()},
				PlanModifiers: []planmodifier.String{sameDuration()},
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{
				Update: true,
				UpdateDescription: "How long an apply waits for a rotation of this key: its App Hosts' stops and " +
					"the healthy starts of its apps. Defaults to `30m`. When it runs out, the rotation goes on in " +
					"the backend and the next apply reports its outcome.",
			}),
		},
	}
}

func (r *apiKeyAccountResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d := configured(req.ProviderData, &resp.Diagnostics); d != nil {
		r.backend, r.now, r.plan, r.server = d.backend, d.now, d.plan, d.server
	}
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
	m.ExposeSecret = types.BoolValue(a.ExposeSecret)
	m.AppHost = appHostValue(a.AppHost)
	m.RotationStrategy = rotationStrategyValue(a.RotationStrategy)
	m.OverlapPeriod = durationValue(m.OverlapPeriod, a.OverlapPeriod, defaultOverlapPeriod)
}

// rotationSettingsChanged reports whether plan changes the account's
// rotation_strategy or overlap_period (spelling aside).
func rotationSettingsChanged(plan, state apiKeyAccountModel) bool {
	if !plan.RotationStrategy.Equal(state.RotationStrategy) {
		return true
	}
	p, errP := time.ParseDuration(plan.OverlapPeriod.ValueString())
	q, errQ := time.ParseDuration(state.OverlapPeriod.ValueString())
	return errP != nil || errQ != nil || p != q
}

// secretValue is the secret as state keeps it: null unless exposed.
func secretValue(a *backend.AccountWithSecret) types.String {
	if !a.ExposeSecret || a.Secret == "" {
		return types.StringNull()
	}
	return types.StringValue(a.Secret)
}

func (r *apiKeyAccountResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx = maskSecrets(ctx)
	var plan apiKeyAccountModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	expose := plan.ExposeSecret.ValueBool()
	a, err := r.backend.CreateAccount(ctx, backend.CreateAccountRequest{
		Name:         plan.Name.ValueString(),
		Description:  plan.Description.ValueString(),
		ExposeSecret: &expose,
		AppHost:      plan.AppHost.ValueString(),
		// The defaults are the backend's too; sent all the same, so that
		// the account holds what the state says.
		RotationStrategy: plan.RotationStrategy.ValueString(),
		OverlapPeriod:    plan.OverlapPeriod.ValueString(),
	})
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error creating API key account",
			fmt.Sprintf("The API key account %q was not created.", plan.Name.ValueString()), err)
		return
	}
	plan.setAccount(&a.Account)
	plan.Secret = secretValue(a)
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

	adopt, canAdopt := findAdoptable(ctx, r.backend, a, state.SecretVersion.ValueInt64())
	resp.Diagnostics.Append(keepAdoptable(ctx, resp.Private, adopt, canAdopt)...)
	if !state.Secret.IsNull() && !state.SecretVersion.IsNull() && state.SecretVersion.ValueInt64() != a.SecretVersion {
		tflog.Warn(ctx, "API key account secret was regenerated outside Terraform", map[string]any{
			"id": a.ID, "state_secret_version": state.SecretVersion.ValueInt64(), "secret_version": a.SecretVersion,
		})
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRegeneratedElsewhere, []byte("true"))...)
	}
	if a.PendingSecretVersion != 0 {
		// An overlap rotation under way, or held by an App Host offline.
		resp.Diagnostics.AddWarning(fmt.Sprintf("API key account %q has a rotation under way", a.Name),
			fmt.Sprintf("API key account %q (%s) has a pending secret (secret_version %d) beside its current one "+
				"(secret_version %d): an overlap rotation is moving its apps, or holds while an App Host of one of "+
				"them is offline. Both secrets log in until it ends. The rotations command of "+
				"terraform-provider-apphost shows where it is; if it holds, bring the App Host back or declare it "+
				"lost (terraform-provider-apphost app-hosts forget NAME).", a.Name, a.ID, a.PendingSecretVersion, a.SecretVersion))
	}
	state.setAccount(a)
	if state.Description.IsNull() {
		state.Description = types.StringValue(a.Description)
	}
	if state.RotateWhenLocked.IsNull() {
		state.RotateWhenLocked = types.BoolValue(true)
	}
	if !a.ExposeSecret {
		// The backend shows it no more: a copy in state is stale.
		state.Secret = types.StringNull()
	}
	now, _ := json.Marshal(r.now().UTC().Format(time.RFC3339Nano))
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRefreshedAt, now)...)
	r.plan.refreshed(a.ID)
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
// adopted says that the secret in the backend was made by a rotation for
// the configured rotation_triggers that the state missed (an interrupted
// apply): it is no reason to rotate again.
func decideRotation(ctx context.Context, plan, state apiKeyAccountModel, refreshedAt time.Time, regeneratedElsewhere, adopted bool) rotation {
	var rot rotation

	switch {
	case plan.RotationTriggers.IsUnknown() || hasUnknownElement(plan.RotationTriggers):
		rot.maybe = append(rot.maybe, "rotation_triggers are not known until apply")
	case adopted:
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

	switch stateExpose := state.ExposeSecret.IsNull() || state.ExposeSecret.ValueBool(); {
	case plan.ExposeSecret.IsUnknown():
		rot.maybe = append(rot.maybe, "expose_secret is not known until apply")
	case plan.ExposeSecret.ValueBool() != stateExpose:
		rot.reasons = append(rot.reasons, fmt.Sprintf("expose_secret changed to %t", plan.ExposeSecret.ValueBool()))
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

	if regeneratedElsewhere && !state.Secret.IsNull() && !adopted {
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
		r.checkDestroy(ctx, req, resp)
		return
	}
	var plan apiKeyAccountModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}

	if r.backend != nil {
		if !plan.AppHost.IsNull() && !plan.AppHost.IsUnknown() {
			requireAPIVersion(&resp.Diagnostics, r.server, "apphost_api_key_account", path.Root("app_host"))
		}
		if plan.RotationStrategy.ValueString() == backend.StrategyOverlap {
			requireAPIVersion(&resp.Diagnostics, r.server, "apphost_api_key_account", path.Root("rotation_strategy"))
		}
		if notDefault(plan.OverlapPeriod, backend.DefaultOverlapPeriod) {
			requireAPIVersion(&resp.Diagnostics, r.server, "apphost_api_key_account", path.Root("overlap_period"))
		}
		selfID := ""
		var stateName types.String
		if !req.State.Raw.IsNull() {
			resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("id"), &selfID)...)
			resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &stateName)...)
			r.plan.stays(selfID)
		}
		if !plan.Name.Equal(stateName) {
			checkNameFree(ctx, &resp.Diagnostics, r.plan, path.Root("name"), kindAccount, plan.Name, selfID, accountIDByName(r.backend))
		}
	}

	if req.State.Raw.IsNull() {
		plan.Secret = plannedSecret(plan)
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
			err := json.Unmarshal(raw, &s)
			if err == nil {
				refreshedAt, err = time.Parse(time.RFC3339Nano, s)
			}
			if err != nil && !plan.RotationPeriod.IsNull() {
				resp.Diagnostics.AddAttributeWarning(path.Root("rotation_period"), "rotation_period not checked",
					fmt.Sprintf("The time of the last refresh of API key account %q, kept in the resource's private "+
						"state, could not be read (%s), so this plan cannot tell whether the secret is older than "+
						"rotation_period. Refresh (an apply with -refresh-only, or any refreshing plan) to record it again.",
						state.Name.ValueString(), err))
			}
		}
	}
	adopt, ok := readAdoptable(ctx, req.Private)
	adopted := ok && adopt.ToVersion == state.SecretVersion.ValueInt64() && adopt.TriggersHash == triggersHash(ctx, plan.RotationTriggers)
	rot := decideRotation(ctx, plan, state, refreshedAt, privateFlag(ctx, req.Private, privateRegeneratedElsewhere), adopted)
	reason, _ := json.Marshal(strings.Join(rot.reasons, "; "))
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateReason, reason)...)

	switch {
	case len(rot.reasons) > 0:
		plan.Secret = plannedSecret(plan)
		plan.SecretVersion = types.Int64Value(state.SecretVersion.ValueInt64() + 1)
		plan.SecretCreatedAt = types.StringUnknown()
		plan.Locked = types.BoolValue(false)
		plan.FailedLoginAttempts = types.Int64Value(0)
		r.warnRotation(ctx, &resp.Diagnostics, plan, state, rot.reasons, false)
	case len(rot.maybe) > 0:
		plan.Secret = types.StringUnknown()
		plan.SecretVersion = types.Int64Unknown()
		plan.SecretCreatedAt = types.StringUnknown()
		plan.Locked = types.BoolUnknown()
		plan.FailedLoginAttempts = types.Int64Unknown()
		r.warnRotation(ctx, &resp.Diagnostics, plan, state, rot.maybe, true)
	case adopted:
		// The rotation happened; the apply only records it (and fetches the
		// secret it showed, where expose_secret allows).
		plan.Secret = state.Secret
		if adopt.ExposeSecret && privateFlag(ctx, req.Private, privateRegeneratedElsewhere) {
			plan.Secret = types.StringUnknown()
		}
		plan.SecretVersion = state.SecretVersion
		plan.SecretCreatedAt = state.SecretCreatedAt
		if !adopt.Ended {
			// Unfinished: the apply finishes it (an update must be planned).
			plan.SecretCreatedAt = types.StringUnknown()
		}
		plan.Locked = state.Locked
		plan.FailedLoginAttempts = state.FailedLoginAttempts
		resp.Diagnostics.AddWarning(fmt.Sprintf("API key account %q adopts its last rotation", state.Name.ValueString()),
			fmt.Sprintf("The secret of API key account %q (%s) is at secret_version %d, made by rotation %s for the "+
				"rotation_triggers configured now, which the state missed (an apply interrupted after the backend "+
				"committed it). This plan records that rotation instead of rotating again: nothing is regenerated and "+
				"no app is redeployed.", state.Name.ValueString(), state.ID.ValueString(), adopt.ToVersion, adopt.RotationID))
	default:
		plan.Secret = state.Secret
		plan.SecretVersion = state.SecretVersion
		plan.SecretCreatedAt = state.SecretCreatedAt
		plan.Locked = state.Locked
		plan.FailedLoginAttempts = state.FailedLoginAttempts
		if plan.RotationStrategy.ValueString() == backend.StrategyOverlap && rotationSettingsChanged(plan, state) {
			// Turned on or changed: say now, not at the next rotation, if
			// the bound apps cannot move within overlap_period.
			if list, err := r.boundApps(ctx, state.ID.ValueString()); err == nil {
				warnOverlapPeriod(&resp.Diagnostics, plan, state, list)
			}
		}
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

// checkDestroy refuses, at plan time, the destroy of an account that app
// secrets outside this run are bound to: the apply would destroy this
// configuration's app secrets and apps first and then be refused the key,
// half done.
//
// It judges in a destroy plan only (destroyRun), where Terraform plans every
// app secret bound to the key that this run destroys before the key (see
// planLedger): the others are outside this configuration. A key removed from
// the configuration is planned in no such order; its destroy is refused at
// apply, as before.
func (r *apiKeyAccountResource) checkDestroy(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.backend == nil || req.State.Raw.IsNull() || !destroyRun() {
		return
	}
	var state apiKeyAccountModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	apps, err := r.backend.ListApps(ctx, backend.ListAppsRequest{BoundToAccountID: id})
	if err != nil {
		tflog.Debug(ctx, "Could not list the apps bound to a destroyed account", map[string]any{"id": id, "error": err.Error()})
		return
	}
	var outside []string
	for _, a := range apps {
		for _, sec := range a.Secrets {
			if sec.AccountID == id && !r.plan.secretLeaving(appSecretID(a.ID, sec.Name)) {
				outside = append(outside, a.Name)
				break
			}
		}
	}
	if len(outside) == 0 {
		return
	}
	sort.Strings(outside)
	addError(&resp.Diagnostics, path.Empty(), fmt.Sprintf("API key account %q cannot be destroyed", state.Name.ValueString()),
		fmt.Sprintf("App secrets that this plan does not destroy are bound to API key account %q (%s), in the apps %s "+
			"(another configuration's, or made outside Terraform). The backend refuses to delete a key while an app "+
			"secret is bound to it: the apply would destroy this configuration's app secrets and apps first and then "+
			"fail on the key, half done.", state.Name.ValueString(), id, joinNames(outside)),
		"Remove those bindings first where they are managed (destroy those apphost_app_secret resources or bind "+
			"them to another key, or delete those apps), then plan again. Or keep the key: remove it from this "+
			"configuration with a removed block (lifecycle { destroy = false }) or the state rm command, and destroy the "+
			"rest.", nil)
}

// plannedSecret is the secret a create or a rotation plans: unknown, or
// null when the backend will not show it.
func plannedSecret(plan apiKeyAccountModel) types.String {
	if !plan.ExposeSecret.IsUnknown() && !plan.ExposeSecret.ValueBool() {
		return types.StringNull()
	}
	return types.StringUnknown()
}

// rolledBack returns the rotation of the account id from secret_version
// from that err reports, when it ended rolled back: the backend answers an
// undone rotation as refused (nothing regenerated), and its record says
// which app did not become healthy.
func (r *apiKeyAccountResource) rolledBack(ctx context.Context, id string, from int64, err error) *backend.Rotation {
	if !backend.IsRefused(err) {
		return nil
	}
	list, lerr := r.backend.ListRotations(ctx, backend.ListRotationsRequest{AccountID: id, Limit: 5})
	if lerr != nil {
		return nil
	}
	for i := range list {
		// Newest first: the first ended rotation from this version is the one.
		if rot := &list[i]; rot.FromVersion == from && rot.Ended() {
			if rot.Outcome == backend.RotationRolledBack {
				return rot
			}
			return nil
		}
	}
	return nil
}

// boundApps lists the apps bound to the account id, in app name order (the
// order in which an overlap rotation moves them).
func (r *apiKeyAccountResource) boundApps(ctx context.Context, id string) ([]backend.App, error) {
	if r.backend == nil {
		return nil, fmt.Errorf("the provider is not configured yet")
	}
	list, err := r.backend.ListApps(ctx, backend.ListAppsRequest{BoundToAccountID: id})
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, err
}

// warnRotation adds the plan's warning about a rotation: why, with which
// strategy, and which apps the apply redeploys (for overlap, in the order
// in which they move). Its summary names the key, so that Terraform does
// not fold the warnings of several rotating keys into "and N more".
func (r *apiKeyAccountResource) warnRotation(ctx context.Context, diags *diag.Diagnostics, plan, state apiKeyAccountModel, reasons []string, maybe bool) {
	list, listErr := r.boundApps(ctx, state.ID.ValueString())
	var redeployed, idle, reloaded []string
	for _, a := range list {
		switch {
		case !a.Deployed:
			idle = append(idle, a.Name)
		case a.ReloadSignal != "":
			reloaded = append(reloaded, a.Name)
			fallthrough
		default:
			redeployed = append(redeployed, a.Name)
		}
	}
	summary, verb := fmt.Sprintf("API key account %q will be rotated", state.Name.ValueString()), "rotates"
	if maybe {
		summary, verb = fmt.Sprintf("API key account %q may be rotated", state.Name.ValueString()), "may rotate"
	}
	if !r.plan.wasRefreshed(state.ID.ValueString()) {
		// Not refreshed by this run: the apply of a saved plan, which plans
		// each change once more, and shows this warning after the rotation
		// (or a plan with -refresh=false). Say what the plan holds, not what
		// is still to come.
		summary = fmt.Sprintf("API key account %q: rotation planned", state.Name.ValueString())
		if maybe {
			summary = fmt.Sprintf("API key account %q: rotation possible", state.Name.ValueString())
		}
	}
	strategy := plan.RotationStrategy.ValueString()
	switch {
	case plan.RotationStrategy.IsUnknown():
		strategy = "not known until apply"
	case strategy == backend.StrategyOverlap && state.Locked.ValueBool():
		strategy = fmt.Sprintf("%s, carried out as %s: the account is locked, so its current secret logs in no "+
			"more and there is nothing to overlap with", backend.StrategyOverlap, backend.StrategyStopFirst)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "This plan %s the secret of API key account %q (%s) because %s. Strategy: %s.",
		verb, state.Name.ValueString(), state.ID.ValueString(), strings.Join(reasons, "; "), strategy)
	switch {
	case listErr != nil:
		fmt.Fprintf(&b, "\n\nThe apps bound to this key could not be listed (%s). The apply redeploys every "+
			"deployed app bound to it all the same, in the rotation.", listErr)
	case len(redeployed) == 0:
		b.WriteString("\n\nNo deployed app has a secret bound to this key: the rotation redeploys none.")
	case strategy == backend.StrategyOverlap:
		order := slices.Clone(redeployed)
		order[0] += " (the canary)"
		fmt.Fprintf(&b, "\n\nThe apply moves these apps, bound to this key (whichever configuration manages them), "+
			"to the new secret one at a time, in this order: %s. The backend issues the new secret as pending, "+
			"valid beside the current one; each app gets its new secret file and then its reload_signal or a "+
			"restart, and must run on the new secret before the next one moves. If one does not become healthy "+
			"within its start_timeout, or overlap_period (%s) would run out, every app moved goes back to the "+
			"current secret and the rotation is rolled back: the key stays at secret_version %d and the apply fails. "+
			"Once every app runs on it, the new secret becomes current and the previous one is revoked.",
			strings.Join(order, ", "), plan.OverlapPeriod.ValueString(), state.SecretVersion.ValueInt64())
		if len(reloaded) > 0 {
			fmt.Fprintf(&b, " These apps have a reload_signal and are not restarted: %s.", joinNames(reloaded))
		}
	default:
		fmt.Fprintf(&b, "\n\nThe apply redeploys these apps, bound to this key (whichever configuration manages "+
			"them): %s. The backend stops them (their App Hosts confirm), regenerates the secret and seals it into "+
			"their app secrets in one transaction, and starts them again; the rotation ends when each runs on the "+
			"new secret. Each app is down only for its own restart.", joinNames(redeployed))
	}
	if len(idle) > 0 {
		fmt.Fprintf(&b, "\n\nThese undeployed apps receive the new secret without being deployed: %s.", joinNames(idle))
	}
	diags.AddWarning(summary, b.String())
	if strategy == backend.StrategyOverlap {
		warnOverlapPeriod(diags, plan, state, list)
	}
}

// warnOverlapPeriod warns when the start_timeouts of the deployed apps in
// list, which an overlap rotation of the account moves one after the
// other, add up to more than its overlap_period: a rotation whose apps take
// that long rolls back.
func warnOverlapPeriod(diags *diag.Diagnostics, plan, state apiKeyAccountModel, list []backend.App) {
	period, err := time.ParseDuration(plan.OverlapPeriod.ValueString())
	if err != nil {
		return
	}
	var sum time.Duration
	var each []string
	for _, a := range list {
		if !a.Deployed {
			continue
		}
		d, err := time.ParseDuration(cmp.Or(a.StartTimeout, defaultStartTimeout))
		if err != nil {
			continue
		}
		sum += d
		each = append(each, fmt.Sprintf("%q %s", a.Name, shortDuration(d)))
	}
	if sum <= period {
		return
	}
	diags.AddAttributeWarning(path.Root("overlap_period"),
		fmt.Sprintf("API key account %q: overlap_period is shorter than its apps' start_timeouts", state.Name.ValueString()),
		fmt.Sprintf("An overlap rotation of API key account %q (%s) moves its deployed apps one after the other, "+
			"each allowed its start_timeout to run on the new secret: %s, %s in all, more than overlap_period (%s). "+
			"A rotation that cannot move the next app within overlap_period rolls back before it runs out: the key "+
			"keeps its secret and the apply fails. Set overlap_period to at least %s, or shorter start_timeouts on "+
			"the apps.", state.Name.ValueString(), state.ID.ValueString(), strings.Join(each, ", "), shortDuration(sum),
			plan.OverlapPeriod.ValueString(), shortDuration(sum)))
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
	// cur is what the backend holds as the calls go: saved after each one.
	cur := plan
	cur.Name, cur.Description = state.Name, state.Description
	cur.RotationStrategy, cur.OverlapPeriod = state.RotationStrategy, state.OverlapPeriod

	// The rotation settings first: a rotation in this apply is carried out
	// with the planned rotation_strategy, as the plan said. A change of them
	// alone rotates nothing.
	if rotationSettingsChanged(plan, state) {
		a, err := r.backend.UpdateAccount(ctx, backend.UpdateAccountRequest{
			ID: id, Name: state.Name.ValueString(), Description: state.Description.ValueString(),
			RotationStrategy: plan.RotationStrategy.ValueString(), OverlapPeriod: plan.OverlapPeriod.ValueString(),
		})
		if err != nil {
			addBackendError(&resp.Diagnostics, "Error updating API key account",
				fmt.Sprintf("The rotation_strategy and overlap_period of API key account %q (%s) were not updated, "+
					"and nothing else was changed.", state.Name.ValueString(), id), err)
			resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
			return
		}
		cur.RotationStrategy = rotationStrategyValue(a.RotationStrategy)
		cur.OverlapPeriod = durationValue(plan.OverlapPeriod, a.OverlapPeriod, defaultOverlapPeriod)
	}
	// before is the state as the backend holds it before the rotation: what
	// a rotation that changes nothing leaves.
	before := state
	before.RotationStrategy, before.OverlapPeriod = cur.RotationStrategy, cur.OverlapPeriod

	// The rotation next: it is the call with a precondition (the
	// secret_version this plan replaces), so a refused one changes nothing.
	adopt, adopting := readAdoptable(ctx, req.Private)
	switch {
	case !plan.SecretVersion.Equal(state.SecretVersion):
		expose := plan.ExposeSecret.ValueBool()
		from, h := state.SecretVersion.ValueInt64(), triggersHash(ctx, plan.RotationTriggers)
		var reason string
		if raw, _ := req.Private.GetKey(ctx, privateReason); len(raw) > 0 {
			_ = json.Unmarshal(raw, &reason)
		}
		timeout, d := plan.Timeouts.Update(ctx, defaultRotationTimeout)
		resp.Diagnostics.Append(d...)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		a, err := r.backend.RegenerateSecret(rctx, backend.RegenerateRequest{
			ID:                    id,
			ExpectedSecretVersion: from,
			ExposeSecret:          &expose,
			IdempotencyKey:        rotationKey(id, from, h, expose),
			Reason:                reason,
			TriggersHash:          h,
		})
		if err != nil {
			if rb := r.rolledBack(ctx, id, from, err); rb != nil {
				addRotationRolledBack(&resp.Diagnostics, state.Name.ValueString(), id, from, rb)
			} else {
				addRotationError(&resp.Diagnostics, state.Name.ValueString(), id, from, err)
			}
			// The key as before: same secret_version and secret.
			resp.Diagnostics.Append(resp.State.Set(ctx, &before)...)
			return
		}
		if a.Rotation != nil && a.Rotation.Outcome == backend.RotationDoneWithFailures {
			// The key has its new secret: state records it, and the error
			// names the apps, which the next plan shows.
			addRotationFailures(&resp.Diagnostics, state.Name.ValueString(), id, a.Rotation)
		}
		cur.setAccount(&a.Account)
		cur.Secret = secretValue(a)
		// Save the rotated state at once: nothing after this may lose it.
		resp.Diagnostics.Append(resp.State.Set(ctx, &cur)...)
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRegeneratedElsewhere, nil)...)
		// The secret is new as of its creation: a plan that does not refresh
		// first must not measure its age against a refresh made before it.
		created, _ := json.Marshal(a.SecretCreatedAt.UTC().Format(time.RFC3339Nano))
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRefreshedAt, created)...)
		tflog.Info(ctx, "Rotated API key account secret", map[string]any{
			"id": id, "name": a.Name, "secret_version": a.SecretVersion, "apps": len(a.Apps),
			"rotation_ms": float64(time.Since(start).Microseconds()) / 1000,
		})
	case adopting && adopt.ToVersion == state.SecretVersion.ValueInt64():
		// An adopted rotation: the first request again, with its key. The
		// backend answers with that rotation's result, finishing it first if
		// its driver died before its end.
		expose := adopt.ExposeSecret
		a, err := r.backend.RegenerateSecret(ctx, backend.RegenerateRequest{
			ID:                    id,
			ExpectedSecretVersion: adopt.FromVersion,
			ExposeSecret:          &expose,
			IdempotencyKey:        rotationKey(id, adopt.FromVersion, adopt.TriggersHash, expose),
			TriggersHash:          adopt.TriggersHash,
		})
		if err != nil {
			addRotationError(&resp.Diagnostics, state.Name.ValueString(), id, adopt.FromVersion, err)
			resp.Diagnostics.Append(resp.State.Set(ctx, &before)...)
			return
		}
		cur.setAccount(&a.Account)
		cur.Secret = secretValue(a)
		if expose && cur.Secret.IsNull() {
			resp.Diagnostics.AddWarning(fmt.Sprintf("The secret of API key account %q is not in state", state.Name.ValueString()),
				fmt.Sprintf("The rotation %s that this apply adopts no longer returns its secret (results are kept "+
					"for %s), so the state holds none. Bound app secrets have it; to get a secret into state, rotate "+
					"the key (change its rotation_triggers).", adopt.RotationID, backend.IdempotencyWindow))
		}
		if a.Rotation != nil && a.Rotation.Outcome == backend.RotationDoneWithFailures {
			addRotationFailures(&resp.Diagnostics, state.Name.ValueString(), id, a.Rotation)
		}
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateAdoptable, nil)...)
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateRegeneratedElsewhere, nil)...)
	}

	if !plan.Name.Equal(state.Name) || !plan.Description.Equal(state.Description) {
		a, err := r.backend.UpdateAccount(ctx, backend.UpdateAccountRequest{
			ID: id, Name: plan.Name.ValueString(), Description: plan.Description.ValueString(),
			RotationStrategy: cur.RotationStrategy.ValueString(), OverlapPeriod: cur.OverlapPeriod.ValueString(),
		})
		if err != nil {
			addBackendError(&resp.Diagnostics, "Error updating API key account",
				fmt.Sprintf("The name and description of API key account %q (%s) were not updated.", state.Name.ValueString(), id), err)
			resp.Diagnostics.Append(resp.State.Set(ctx, &cur)...)
			return
		}
		cur.Name = types.StringValue(a.Name)
		cur.Description = types.StringValue(a.Description)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cur)...)
}

func (r *apiKeyAccountResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx = maskSecrets(ctx)
	var state apiKeyAccountModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	err := r.backend.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: id})
	switch {
	case err == nil, backend.IsNotFound(err):
		tflog.Info(ctx, "Deleted API key account", map[string]any{"id": id})
	case backend.IsInUse(err):
		var apps []string
		var be *backend.Error
		if errors.As(err, &be) {
			apps = be.Apps
		}
		addBackendError(&resp.Diagnostics, "API key account is still in use",
			fmt.Sprintf("The API key account %q (%s) was not deleted: app secrets are still bound to it, in the "+
				"apps %s, which would be left with a secret that can never log in.",
				state.Name.ValueString(), id, joinNames(apps)), err)
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

// UpgradeState upgrades state written before expose_secret (version 0):
// those accounts always showed their secret, so it is true, and no plan
// shows a change for it.
func (r *apiKeyAccountResource) UpgradeState(_ context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: func(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
			upgraded, err := upgradeStateJSON(req.RawState, map[string]any{"expose_secret": true})
			if err != nil {
				resp.Diagnostics.AddError("Error upgrading apphost_api_key_account state",
					fmt.Sprintf("The state written by an earlier version of the provider could not be read: %s. "+
						"Remove the resource from state (the state rm command) and import it again.", err))
				return
			}
			resp.DynamicValue = upgraded
		}},
	}
}
