package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// These checks move errors that the backend would raise halfway through an
// apply to plan time, on the attribute at fault. A backend that cannot be
// asked (not configured yet, unreachable) skips them: the apply still checks.

// planLedger records what the resources of one run have planned so far,
// for the checks that need more than one resource: two resources of the
// configuration with one name, and a key account destroyed while app
// secrets outside the plan are bound to it.
//
// In a destroy plan (terraform destroy, plan -destroy) Terraform plans a
// resource's dependents' destroys before the resource's own, the order of
// the apply, so when a key account's destroy is planned, every app secret
// bound to it that this run destroys is already recorded. Resources removed
// from the configuration are planned in no such order, so the key's check
// runs in destroy plans only (see destroyRun).
type planLedger struct {
	mu sync.Mutex
	// names maps kind and name to how many creates or renames planned it.
	names map[string]int
	// leaving are the app secrets (appSecretID) this run destroys or replaces.
	leaving map[string]bool
	// read are the IDs of the accounts and apps this run has refreshed.
	read map[string]bool
	// staying are the IDs of the accounts and apps this run plans to keep
	// (an update or no change, planned with their prior state).
	staying map[string]bool
}

func newPlanLedger() *planLedger {
	return &planLedger{
		names: map[string]int{}, leaving: map[string]bool{}, read: map[string]bool{}, staying: map[string]bool{},
	}
}

// stays records that this run plans to keep the object id.
func (l *planLedger) stays(id string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.staying[id] = true
}

// replacedHere reports whether the object id is one this run refreshed and
// does not plan to keep: the tainted object that a create replaces.
// Terraform refreshes a tainted object and then plans its replacement as a
// create, with no prior state, in one step, so the refresh is recorded
// first; another resource's object that this run keeps is recorded as
// staying when that resource is planned.
func (l *planLedger) replacedHere(id string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.read[id] && !l.staying[id]
}

// refreshed records that this run read the object id (Read). A nil ledger
// (a resource not configured yet) records nothing.
func (l *planLedger) refreshed(id string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.read[id] = true
}

// wasRefreshed reports whether this run read the object id: true while
// planning (a refresh comes first), false when an apply plans its changes
// once more, and in a plan with -refresh=false.
func (l *planLedger) wasRefreshed(id string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.read[id]
}

// claimName records that a create or rename plans name for an object of
// kind k, and reports whether an earlier one in this run planned it too.
func (l *planLedger) claimName(k kind, name string) (taken bool) {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := k.resourceType + "\x00" + name
	l.names[key]++
	return l.names[key] > 1
}

// secretLeaves records that this run destroys (or replaces) the app secret id.
func (l *planLedger) secretLeaves(id string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaving[id] = true
}

// secretLeaving reports whether this run destroys (or replaces) the app
// secret id, as far as it has planned.
func (l *planLedger) secretLeaving(id string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaving[id]
}

// checkNameFree reports on attr that another object of the kind already has
// the planned name, or that another resource of this run plans it too.
// selfID is the resource's own ID ("" on create).
//
// On create it is a warning, except for the object of a tainted resource,
// which this run refreshed and replaces (Terraform plans that create with no
// prior state; -replace hides the create's warnings itself): the create
// fails at apply only if the name is still taken then. On a rename it is an
// error, as is a name that two resources of this run plan.
func checkNameFree(ctx context.Context, diags *diag.Diagnostics, ledger *planLedger, attr path.Path, k kind,
	name types.String, selfID string, lookup func(context.Context, string) (string, error),
) {
	if name.IsNull() || name.IsUnknown() {
		return
	}
	if ledger.claimName(k, name.ValueString()) {
		addError(diags, attr, fmt.Sprintf("Two %s resources are named %q", k.resourceType, name.ValueString()),
			fmt.Sprintf("Another %s resource in this configuration is also named %q, and names are unique in "+
				"the backend: the second create (or rename) would fail halfway through the apply.",
				k.resourceType, name.ValueString()),
			fmt.Sprintf("Give each resource its own name: search the configuration for name = %q.", name.ValueString()), nil)
		return
	}
	id, err := lookup(ctx, name.ValueString())
	switch {
	case backend.IsNotFound(err):
		return
	case err != nil:
		tflog.Debug(ctx, "Could not check whether the name is taken", map[string]any{"kind": k.name, "error": err.Error()})
		return
	case id == selfID, selfID == "" && ledger.replacedHere(id):
		return
	}
	if selfID == "" {
		diags.AddAttributeWarning(attr, fmt.Sprintf("%s name %q is taken", capitalize(k.name), name.ValueString()),
			fmt.Sprintf("An %s named %q already exists in the backend (ID %s), and names are unique. If this plan "+
				"replaces that object (-replace), the old one is destroyed first and this "+
				"is expected. Otherwise the create will fail at apply: choose another name; if the object moved to "+
				"this address, use a moved block; or bring the existing one under Terraform with an import block "+
				"with id = %q (or the import command: import %s.<label> %s).", k.name, name.ValueString(), id, id, k.resourceType, id))
		return
	}
	addError(diags, attr, fmt.Sprintf("%s name already taken", capitalize(k.name)),
		fmt.Sprintf("An %s named %q already exists in the backend (ID %s), and names are unique.", k.name, name.ValueString(), id),
		fmt.Sprintf("Choose another name, or bring the existing one under Terraform: an import block with id = %q "+
			"(or the import command: import %s.<label> %s).", id, k.resourceType, id), nil)
}

// checkExists reports an error on attr when the planned ID names no object
// of kind k.
func checkExists(ctx context.Context, diags *diag.Diagnostics, attr path.Path, k kind, id types.String,
	get func(context.Context, string) error,
) {
	if id.IsNull() || id.IsUnknown() {
		return
	}
	err := get(ctx, id.ValueString())
	switch {
	case err == nil:
	case backend.IsNotFound(err):
		addNotFoundByID(diags, attr, k, id.ValueString())
	default:
		tflog.Debug(ctx, "Could not check whether the object exists", map[string]any{"kind": k.name, "error": err.Error()})
	}
}

func accountIDByName(b backend.Backend) func(context.Context, string) (string, error) {
	return func(ctx context.Context, name string) (string, error) {
		a, err := b.GetAccountByName(ctx, name)
		if err != nil {
			return "", err
		}
		return a.ID, nil
	}
}

func appIDByName(b backend.Backend) func(context.Context, string) (string, error) {
	return func(ctx context.Context, name string) (string, error) {
		a, err := b.GetAppByName(ctx, name)
		if err != nil {
			return "", err
		}
		return a.ID, nil
	}
}

// destroyRun reports whether the command that started this provider plans a
// destroy: terraform (or tofu) destroy, or plan or apply with -destroy.
// Terraform tells a provider nothing of the kind, and plans a destroy in
// dependency order only then, so the command line of the parent process (the
// CLI starts the provider) is read, where the system shows it (/proc). Where
// it cannot be read (another system, a provider served in-process by a test)
// the answer is false, and a destroy that cannot finish is refused at apply.
var destroyRun = sync.OnceValue(func() bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", os.Getppid()))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	if len(args) < 2 {
		return false
	}
	switch filepath.Base(args[0]) {
	case "terraform", "tofu":
	default:
		return false
	}
	for _, a := range args[1:] {
		switch a {
		case "destroy", "-destroy", "--destroy", "-destroy=true", "--destroy=true":
			return true
		}
	}
	return false
})
