package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// maskSecrets masks the log fields that may hold a secret.
func maskSecrets(ctx context.Context) context.Context {
	return tflog.MaskFieldValuesWithFieldKeys(ctx, "secret", "value", "value_wo", "api_key_secret")
}

// addBackendError adds an error diagnostic for a failed backend call: what
// happened, what to do, and the original error. An invalid field of the
// request is reported on the matching attribute when there is one.
func addBackendError(diags *diag.Diagnostics, summary, what string, err error) {
	var todo string
	switch backend.CodeOf(err) {
	case backend.CodeNotFound:
		todo = "The object does not exist in the backend (any more). Run terraform apply -refresh-only or check the ID."
	case backend.CodeConflict:
		todo = "A name is already taken, or the object changed concurrently. Choose another name, or import the existing object."
	case backend.CodeInvalid:
		todo = "The backend rejected the input. Correct the configuration."
	case backend.CodeStaleValue:
		todo = "Remove value (or value_wo and value_wo_version) from this bound app secret: the backend fills it " +
			"with the account's current secret, and reseals it at every rotation."
	case backend.CodeNoSealedSecret:
		todo = "Rotate that API key account once (change its rotation_triggers and apply), then apply again."
	case backend.CodeVersionMismatch:
		todo = "The account was rotated since the plan was made. Run terraform plan (or apply) again."
	case backend.CodeInUse:
		todo = "Remove those apphost_app_secret resources (in this configuration or the one that manages them) or " +
			"bind them to another key account, or delete those apps; then destroy the account again."
	case backend.CodeUnavailable:
		todo = "The backend is unavailable or busy: for a remote backend, check that the apphost server at the endpoint runs and is reachable; for the embedded one, that its store is not locked by another process. Then try again."
	case backend.CodeUnauthorized:
		todo = "Check the provider's api_key_id and api_key_secret."
	case backend.CodeForbidden:
		todo = "The provider's api_key_id is not an admin API key account: use an admin account's ID and secret."
	case backend.CodeRateLimited:
		todo = "Too many failed logins from this address at this API key account: wait for the time the error names, then check api_key_id and api_key_secret."
	case backend.CodeSchemaNewer:
		todo = "The store was written by a newer version of apphost. Upgrade the provider."
	case backend.CodeKeyFile:
		todo = "The store's encryption key file is missing or unreadable. Restore it next to the store."
	default:
		todo = "Check the backend, then try again."
	}
	detail := fmt.Sprintf("%s %s\n\nOriginal error: %s", what, todo, err)
	var be *backend.Error
	if asError(err, &be) && be.Field != "" && validAttrName(be.Field) {
		diags.AddAttributeError(path.Root(be.Field), summary, detail)
		return
	}
	diags.AddError(summary, detail)
}

// attrNames are the attribute names a backend's invalid field can map to.
var attrNames = map[string]bool{
	"name": true, "description": true, "app_host": true, "version": true, "config": true,
	"value": true, "api_key_account_id": true,
}

func validAttrName(s string) bool { return attrNames[s] }

func asError(err error, target **backend.Error) bool { return errors.As(err, target) }
