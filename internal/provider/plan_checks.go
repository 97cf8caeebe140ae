package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// These checks move errors that the backend would raise halfway through an
// apply to plan time, on the attribute at fault. A backend that cannot be
// asked (not configured yet, unreachable) skips them: the apply still checks.

// checkNameFree reports on attr that another object of the kind already has
// the planned name. selfID is the resource's own ID ("" on create).
//
// On create it is a warning: Terraform gives a create no prior state, so a
// replacement (-replace, taint) cannot be told from a clash, and the create
// fails at apply only if the name is still taken then. On a rename it is an
// error.
func checkNameFree(ctx context.Context, diags *diag.Diagnostics, attr path.Path, k kind,
	name types.String, selfID string, lookup func(context.Context, string) (string, error),
) {
	if name.IsNull() || name.IsUnknown() {
		return
	}
	id, err := lookup(ctx, name.ValueString())
	switch {
	case backend.IsNotFound(err):
		return
	case err != nil:
		tflog.Debug(ctx, "Could not check whether the name is taken", map[string]any{"kind": k.name, "error": err.Error()})
		return
	case id == selfID:
		return
	}
	if selfID == "" {
		diags.AddAttributeWarning(attr, fmt.Sprintf("%s name %q is taken", capitalize(k.name), name.ValueString()),
			fmt.Sprintf("An %s named %q already exists in the backend (ID %s), and names are unique. If this plan "+
				"replaces that object (terraform apply -replace, or a taint), the old one is destroyed first and this "+
				"is expected. Otherwise the create will fail at apply: choose another name; if the object moved to "+
				"this address, use a moved block; or bring the existing one under Terraform with an import block "+
				"with id = %q (or terraform import %s.<label> %s).", k.name, name.ValueString(), id, id, k.resourceType, id))
		return
	}
	addError(diags, attr, fmt.Sprintf("%s name already taken", capitalize(k.name)),
		fmt.Sprintf("An %s named %q already exists in the backend (ID %s), and names are unique.", k.name, name.ValueString(), id),
		fmt.Sprintf("Choose another name, or bring the existing one under Terraform: an import block with id = %q "+
			"(or terraform import %s.<label> %s).", id, k.resourceType, id), nil)
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
