package provider

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
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
	_ resource.Resource                   = (*appResource)(nil)
	_ resource.ResourceWithConfigure      = (*appResource)(nil)
	_ resource.ResourceWithImportState    = (*appResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*appResource)(nil)
	_ resource.ResourceWithValidateConfig = (*appResource)(nil)
)

// Waiting for an app to start on a real App Host.
const (
	// defaultAppTimeout is the create and update timeout unless the
	// timeouts block says otherwise.
	defaultAppTimeout = 10 * time.Minute
	// startGrace is how long past the app's start_timeout a deploy waits for
	// the backend's verdict: the App Host starts the app after it reads the
	// change, and reports it every few seconds.
	startGrace = 15 * time.Second
	// The polls of a deploy that waits: from firstPoll, doubling up to maxPoll.
	firstPoll = 100 * time.Millisecond
	maxPoll   = 2 * time.Second
)

// The defaults of stop_timeout and start_timeout, as the docs write them.
var (
	defaultStopTimeout  = formatSeconds(backend.DefaultStopTimeout)
	defaultStartTimeout = formatSeconds(backend.DefaultStartTimeout)
)

func newAppResource() resource.Resource { return &appResource{} }

type appResource struct {
	backend backend.Backend
	plan    *planLedger
	server  serverInfo
	hosts   *appHostList
}

type appModel struct {
	ID           types.String   `tfsdk:"id"`
	Name         types.String   `tfsdk:"name"`
	AppHost      types.String   `tfsdk:"app_host"`
	Version      types.String   `tfsdk:"version"`
	Config       types.Map      `tfsdk:"config"`
	Deployed     types.Bool     `tfsdk:"deployed"`
	Command      types.List     `tfsdk:"command"`
	SecretNames  types.Set      `tfsdk:"secret_names"`
	StopTimeout  types.String   `tfsdk:"stop_timeout"`
	StartTimeout types.String   `tfsdk:"start_timeout"`
	ReloadSignal types.String   `tfsdk:"reload_signal"`
	Status       types.String   `tfsdk:"status"`
	StatusDetail types.String   `tfsdk:"status_detail"`
	Timeouts     timeouts.Value `tfsdk:"timeouts"`
}

func (r *appResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app"
}

func (r *appResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An app on an App Host. A deployed app logs in with the API key accounts its " +
			"app secrets (`apphost_app_secret`) are bound to. A change of `name`, `app_host`, `version`, `config`, " +
			"`command`, `stop_timeout`, `start_timeout` or `reload_signal` while the app is deployed is applied as " +
			"undeploy, change, deploy. An app undeployed outside Terraform shows as `deployed = false` in the next " +
			"plan, which deploys it again.\n\n" +
			"**App Hosts.** An `app_host` that an App Host account claims (an `apphost_api_key_account` with " +
			"`app_host`) is a real App Host: a `terraform-provider-apphost host` process that runs `command` as a " +
			"process, with the app's secrets in files. Any other name is served by the backend's built-in App Host, " +
			"which runs no process: each app logs in once at each start. On a real App Host a deploy (create, " +
			"update) waits until the app is `running`, within `start_timeout` and the `timeouts` block (`create` " +
			"and `update`, 10 minutes each by default), polling with a backoff; an app that is `pending` (its App " +
			"Host has never connected, or a secret in `secret_names` is missing) is not waited for. The plan warns " +
			"when an app's App Host has never connected or is offline, and when `app_host` is served by the " +
			"built-in App Host under a name close to a real one's: a typo shows at once.\n\n" +
			"**A start that does not become healthy** is a warning that names the app and its `status_detail`; the " +
			"app is saved with `status = \"failed\"` and is not tainted, and the next plan redeploys it.\n\n" +
			"**`secret_names`** lists the app secrets the app needs: it is not started until all of them exist, and " +
			"stops while one is missing. With its key's secret in `secret_names`, a `-replace` of the key never " +
			"starts the app without the secret, and a new app starts once, when its secrets are in.\n\n" +
			"Import by ID or by name.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The app's ID, a UUID.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "The app's name, unique in the backend. It is the actor of the app's own logins " +
					"in the audit log, and on a real App Host the name of its directory (`apps/NAME`).",
				Required:   true,
				Validators: []validator.String{validators.Name()},
			},
			"app_host": schema.StringAttribute{
				MarkdownDescription: "The App Host the app runs on. Defaults to `\"default\"`. A name that an App Host " +
					"account claims (`apphost_api_key_account` with `app_host`) is a real App Host; any other name is " +
					"served by the backend's built-in App Host. The plan warns when the App Host has never connected " +
					"or is offline.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(backend.DefaultAppHost),
				Validators: []validator.String{validators.Name()},
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
			"command": schema.ListAttribute{
				MarkdownDescription: "The program a real App Host runs, and its arguments, such as " +
					"`[\"terraform-provider-apphost\", \"example-app\"]`. It runs in its own process group, in the " +
					"app's directory, with its `app.config` and its secrets in `secrets/NAME` files; it is " +
					"restarted with a backoff when it exits. The built-in App Host runs no process and ignores it. " +
					"Needs an apphost server of API version 3 or later.",
				ElementType: types.StringType,
				Optional:    true,
				Validators: []validator.List{
					listvalidator.SizeBetween(1, backend.MaxCommandArgs),
					listvalidator.ValueStringsAre(stringvalidator.LengthAtMost(backend.MaxConfigValueLength)),
				},
			},
			"secret_names": schema.SetAttribute{
				MarkdownDescription: "The app secrets (`apphost_app_secret` names) the app needs. It is not " +
					"started until all of them exist (it is `pending` meanwhile, and a deploy does not wait for it), " +
					"and stops while one is missing, as a Kubernetes pod waits for the secrets it mounts. Name the " +
					"secret bound to a key here, and a `-replace` of the key never starts the app without it. " +
					"Changing it restarts nothing by itself. Needs an apphost server of API version 3 or later.",
				ElementType: types.StringType,
				Optional:    true,
				Validators: []validator.Set{
					setvalidator.SizeAtMost(backend.MaxConfigEntries),
					setvalidator.ValueStringsAre(validators.Name()),
				},
			},
			"stop_timeout": schema.StringAttribute{
				MarkdownDescription: "How long a real App Host waits, after SIGTERM to the app's process group, " +
					"before SIGKILL: a Go duration. Defaults to `\"" + defaultStopTimeout + "\"`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(defaultStopTimeout),
				Validators: []validator.String{validators.AppTimeout()},
			},
			"start_timeout": schema.StringAttribute{
				MarkdownDescription: "How long a start may take to become healthy on a real App Host: a Go " +
					"duration. A deploy waits this long (and as long as the `timeouts` block allows) for the app to " +
					"be `running`; after it, the app is `failed`. Defaults to `\"" + defaultStartTimeout + "\"`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(defaultStartTimeout),
				Validators: []validator.String{validators.AppTimeout()},
			},
			"reload_signal": schema.StringAttribute{
				MarkdownDescription: "The signal on which the app rereads its secret files without a restart: one " +
					"of `" + strings.Join(backend.ReloadSignals, "`, `") + "`. Unset: the app is restarted to take a " +
					"new secret.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(backend.ReloadSignals...)},
			},
			"status": schema.StringAttribute{
				MarkdownDescription: descAppStatus + " The plan redeploys a deployed app found `failed`.",
				Computed:            true,
			},
			"status_detail": schema.StringAttribute{
				MarkdownDescription: descAppStatusDetail,
				Computed:            true,
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true}),
		},
	}
}

// ValidateConfig checks that a command names a program.
func (r *appResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var command types.List
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("command"), &command)...)
	if resp.Diagnostics.HasError() || command.IsNull() || command.IsUnknown() || len(command.Elements()) == 0 {
		return
	}
	if first, ok := command.Elements()[0].(types.String); ok && !first.IsUnknown() && first.ValueString() == "" {
		resp.Diagnostics.AddAttributeError(path.Root("command").AtListIndex(0), "Invalid app command",
			"The first element of command is the program to run, and it is empty. Name the program, such as "+
				"[\"terraform-provider-apphost\", \"example-app\"].")
	}
}

func (r *appResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d := configured(req.ProviderData, &resp.Diagnostics); d != nil {
		r.backend, r.plan, r.server, r.hosts = d.backend, d.plan, d.server, d.hosts
	}
}

// setApp copies what the backend holds of the app into m. Empty lists stay
// null where m has them null, and a timeout keeps m's spelling when it is
// the same duration.
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
	if len(a.Command) == 0 && (m.Command.IsNull() || m.Command.IsUnknown()) {
		m.Command = types.ListNull(types.StringType)
	} else {
		m.Command, _ = types.ListValueFrom(context.Background(), types.StringType, nonNilStrings(a.Command))
	}
	if len(a.SecretNames) == 0 && (m.SecretNames.IsNull() || m.SecretNames.IsUnknown()) {
		m.SecretNames = types.SetNull(types.StringType)
	} else {
		m.SecretNames, _ = types.SetValueFrom(context.Background(), types.StringType, nonNilStrings(a.SecretNames))
	}
	m.StopTimeout = durationValue(m.StopTimeout, a.StopTimeout, defaultStopTimeout)
	m.StartTimeout = durationValue(m.StartTimeout, a.StartTimeout, defaultStartTimeout)
	m.ReloadSignal = types.StringNull()
	if a.ReloadSignal != "" {
		m.ReloadSignal = types.StringValue(a.ReloadSignal)
	}
	m.Status = types.StringValue(a.Status)
	m.StatusDetail = types.StringValue(strings.TrimSpace(a.StatusDetail))
}

// durationValue is the duration the backend holds (got; "" is def, the
// default as the docs write it) as state keeps it: prior when it is the
// same duration (the configuration's spelling), else def's spelling or a
// short one ("2m" for 2m0s).
func durationValue(prior types.String, got string, def string) types.String {
	d, err := time.ParseDuration(cmp.Or(got, def))
	if err != nil {
		return types.StringValue(got)
	}
	if !prior.IsNull() && !prior.IsUnknown() {
		if p, err := time.ParseDuration(prior.ValueString()); err == nil && p == d {
			return prior
		}
	}
	if dd, err := time.ParseDuration(def); err == nil && d == dd {
		return types.StringValue(def)
	}
	return types.StringValue(shortDuration(d))
}

// formatSeconds writes a whole number of seconds as "60s".
func formatSeconds(d time.Duration) string { return fmt.Sprintf("%ds", d/time.Second) }

// settings is what the model asks of the backend: the fields of a create or
// an update.
func (m *appModel) settings(ctx context.Context) (backend.UpdateAppRequest, diag.Diagnostics) {
	var diags diag.Diagnostics
	req := backend.UpdateAppRequest{
		ID: m.ID.ValueString(), Name: m.Name.ValueString(), AppHost: m.AppHost.ValueString(),
		Version: m.Version.ValueString(), Config: map[string]string{}, Deployed: m.Deployed.ValueBool(),
	}
	if !m.Config.IsNull() && !m.Config.IsUnknown() {
		diags.Append(m.Config.ElementsAs(ctx, &req.Config, false)...)
	}
	if !m.Command.IsNull() && !m.Command.IsUnknown() {
		diags.Append(m.Command.ElementsAs(ctx, &req.Command, false)...)
	}
	if !m.SecretNames.IsNull() && !m.SecretNames.IsUnknown() {
		diags.Append(m.SecretNames.ElementsAs(ctx, &req.SecretNames, false)...)
		sort.Strings(req.SecretNames)
	}
	req.StopTimeout, req.StartTimeout = m.StopTimeout.ValueString(), m.StartTimeout.ValueString()
	req.ReloadSignal = m.ReloadSignal.ValueString()
	return req, diags
}

// restartsOnUpdate reports whether an update from prev to next makes the
// backend start the app (again): when it deploys an undeployed app, or
// changes what the app runs. (secret_names changes restart nothing.)
func restartsOnUpdate(prev, next backend.UpdateAppRequest) bool {
	if !next.Deployed {
		return false
	}
	same := func(a, b string, def time.Duration) bool {
		da, errA := time.ParseDuration(a)
		db, errB := time.ParseDuration(b)
		if a == "" {
			da, errA = def, nil
		}
		if b == "" {
			db, errB = def, nil
		}
		return errA == nil && errB == nil && da == db
	}
	return !prev.Deployed || prev.Name != next.Name || prev.AppHost != next.AppHost || prev.Version != next.Version ||
		!maps.Equal(prev.Config, next.Config) || !slices.Equal(prev.Command, next.Command) ||
		!same(prev.StopTimeout, next.StopTimeout, backend.DefaultStopTimeout) ||
		!same(prev.StartTimeout, next.StartTimeout, backend.DefaultStartTimeout) || prev.ReloadSignal != next.ReloadSignal
}

func (r *appResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan appModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	set, diags := plan.settings(ctx)
	resp.Diagnostics.Append(diags...)
	timeout, diags := plan.Timeouts.Create(ctx, defaultAppTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	a, err := r.backend.CreateApp(ctx, backend.CreateAppRequest{
		Name: set.Name, AppHost: set.AppHost, Version: set.Version, Config: set.Config, Deployed: set.Deployed,
		SecretNames: set.SecretNames, AppRuntime: set.AppRuntime,
	})
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error creating app",
			fmt.Sprintf("The app %q was not created.", plan.Name.ValueString()), err)
		return
	}
	tflog.Info(ctx, "Created app", map[string]any{"id": a.ID, "name": a.Name, "status": a.Status})
	// The app exists from here on: nothing may fail the create (which would
	// taint it); a start that does not become healthy is a warning.
	r.awaitStart(ctx, &resp.Diagnostics, &plan, a, "create", timeout)
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
	set, diags := plan.settings(ctx)
	resp.Diagnostics.Append(diags...)
	prev, diags := state.settings(ctx)
	resp.Diagnostics.Append(diags...)
	timeout, diags := plan.Timeouts.Update(ctx, defaultAppTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	set.ID = state.ID.ValueString()
	a, err := r.backend.UpdateApp(ctx, set)
	if err != nil {
		addBackendError(&resp.Diagnostics, "Error updating app",
			fmt.Sprintf("The app %q (%s) was not updated.", state.Name.ValueString(), state.ID.ValueString()), err)
		return
	}
	tflog.Info(ctx, "Updated app", map[string]any{"id": a.ID, "name": a.Name, "status": a.Status})
	if a.Deployed && a.Status == backend.StatusFailed && !restartsOnUpdate(prev, set) {
		// Failed, and the update did not start it again: the redeploy the
		// plan shows for a failed app.
		started, err := r.backend.DeployApp(ctx, a.ID)
		if err != nil {
			plan.setApp(a)
			resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
			addBackendError(&resp.Diagnostics, "Error redeploying app",
				fmt.Sprintf("The app %q (%s) failed, and could not be deployed again.", a.Name, a.ID), err)
			return
		}
		tflog.Info(ctx, "Redeployed failed app", map[string]any{"id": a.ID, "name": a.Name, "status": started.Status})
		a = started
	}
	r.awaitStart(ctx, &resp.Diagnostics, &plan, a, "update", timeout)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// awaitStart sets m from a, the app as a deploy (or an update that may
// deploy) left it, after waiting, while its App Host starts it, until it is
// running or failed, for at most its start_timeout (plus startGrace) and as
// long as ctx (the resource's timeouts) allows. It polls with a backoff. An
// app that is pending (its App Host never connected, or a secret in
// secret_names is missing) is not waited for. A start that does not become
// healthy is a warning, and m says status = "failed": the next plan
// redeploys it.
func (r *appResource) awaitStart(ctx context.Context, diags *diag.Diagnostics, m *appModel, a *backend.App, op string, timeout time.Duration) {
	m.setApp(a)
	if !a.Deployed || a.Status != backend.StatusStarting {
		warnFailedStart(diags, a, a.StatusDetail)
		return
	}
	startTimeout, _ := time.ParseDuration(a.StartTimeout)
	if startTimeout <= 0 {
		startTimeout = backend.DefaultStartTimeout
	}
	deadline := time.Now().Add(startTimeout + startGrace)
	poll := firstPoll
	for a.Status == backend.StatusStarting {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		poll = min(2*poll, maxPoll)
		got, err := r.backend.GetApp(ctx, a.ID)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			diags.AddWarning(fmt.Sprintf("App %q: start not confirmed", a.Name),
				fmt.Sprintf("The app %q (%s) was deployed, but the provider could not read it back to see it start. "+
					"The next refresh reads its status.\n\nOriginal error: %s", a.Name, a.ID, err))
			return
		}
		a = got
		m.setApp(a)
		tflog.Debug(ctx, "Waiting for app to start", map[string]any{"name": a.Name, "status": a.Status, "status_detail": a.StatusDetail})
	}
	if a.Status != backend.StatusStarting {
		warnFailedStart(diags, a, a.StatusDetail)
		return
	}
	// Still starting: not healthy in the time it had.
	limit := fmt.Sprintf("start_timeout (%s)", m.StartTimeout.ValueString())
	if ctx.Err() != nil {
		limit = fmt.Sprintf("the %s timeout (%s, the timeouts block)", op, timeout)
	}
	detail := fmt.Sprintf("not running within %s", limit)
	if d := strings.TrimSpace(a.StatusDetail); d != "" {
		detail += ": " + d
	}
	m.Status, m.StatusDetail = types.StringValue(backend.StatusFailed), types.StringValue(detail)
	warnFailedStart(diags, &backend.App{ID: a.ID, Name: a.Name, AppHost: a.AppHost, Deployed: true, Status: backend.StatusFailed}, detail)
}

// warnFailedStart warns when a deployed app is failed: it is saved so, not
// tainted, and the next plan redeploys it.
func warnFailedStart(diags *diag.Diagnostics, a *backend.App, detail string) {
	if !a.Deployed || a.Status != backend.StatusFailed {
		return
	}
	if detail = strings.TrimSpace(detail); detail == "" {
		detail = "no detail"
	}
	diags.AddWarning(fmt.Sprintf("App %q did not start", a.Name),
		fmt.Sprintf("The app %q (%s) on App Host %q did not become healthy: %s.\n\nIt is saved with status = \"failed\" "+
			"and is not tainted: the next plan redeploys it. Fix the cause (on a real App Host, the app's output is in "+
			"its directory, apps/%s/log), then apply again.", a.Name, a.ID, a.AppHost, strings.TrimSuffix(detail, "."), a.Name))
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

// ModifyPlan checks at plan time that a new or changed name is free and
// that the server speaks what the configuration uses, warns about an App
// Host that has never connected or is offline, plans a redeploy of a
// deployed app found failed, and records an app that this run keeps.
func (r *appResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.backend == nil {
		return
	}
	var plan, state appModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	selfID := ""
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		selfID = state.ID.ValueString()
		r.plan.stays(selfID)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	r.checkAPIVersion(&resp.Diagnostics, plan)
	deployed := plan.Deployed.IsUnknown() || plan.Deployed.ValueBool()
	if deployed && !plan.AppHost.IsUnknown() {
		warnAppHost(ctx, &resp.Diagnostics, r.hosts, plan.Name.ValueString(), plan.AppHost.ValueString())
	}
	if selfID != "" && deployed && state.Status.ValueString() == backend.StatusFailed {
		resp.Diagnostics.AddWarning(fmt.Sprintf("App %q failed: this plan redeploys it", state.Name.ValueString()),
			fmt.Sprintf("The app %q (%s) is deployed but failed at the last refresh: %s. The apply deploys it again.",
				state.Name.ValueString(), selfID, strings.TrimSuffix(state.StatusDetail.ValueString(), ".")))
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("status"), types.StringUnknown())...)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("status_detail"), types.StringUnknown())...)
	}
	if !plan.Name.Equal(state.Name) {
		checkNameFree(ctx, &resp.Diagnostics, r.plan, path.Root("name"), kindApp, plan.Name, selfID, appIDByName(r.backend))
	}
}

// checkAPIVersion refuses, on the attribute, what the configuration uses
// that the server is too old for.
func (r *appResource) checkAPIVersion(diags *diag.Diagnostics, plan appModel) {
	needs := func(set bool, attr string) {
		if set {
			requireAPIVersion(diags, r.server, "apphost_app", path.Root(attr))
		}
	}
	needs(len(plan.SecretNames.Elements()) > 0, "secret_names")
	needs(len(plan.Command.Elements()) > 0, "command")
	needs(!plan.ReloadSignal.IsNull() && !plan.ReloadSignal.IsUnknown(), "reload_signal")
	needs(notDefault(plan.StopTimeout, backend.DefaultStopTimeout), "stop_timeout")
	needs(notDefault(plan.StartTimeout, backend.DefaultStartTimeout), "start_timeout")
}

// notDefault reports whether v is a known duration other than def.
func notDefault(v types.String, def time.Duration) bool {
	if v.IsNull() || v.IsUnknown() {
		return false
	}
	d, err := time.ParseDuration(v.ValueString())
	return err != nil || d != def
}
