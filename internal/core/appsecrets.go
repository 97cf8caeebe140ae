package core

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

func toAppSecret(r store.AppSecretRow) backend.AppSecret {
	return backend.AppSecret{
		AppID:     r.AppID,
		AppName:   r.AppName,
		Name:      r.Name,
		AccountID: r.AccountID,
		HasValue:  r.Ciphertext != nil,
		UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// secretTarget is the audit target of an app secret: ID and "APP_NAME/SECRET_NAME".
func secretTarget(appID, appName, name string) (id, targetName string) {
	return appID + "/" + name, appName + "/" + name
}

func (o *op) deleteAppSecret(sec store.AppSecretRow, detail string) error {
	if err := o.tx.DeleteAppSecret(o.ctx, sec.AppID, sec.Name); err != nil {
		return err
	}
	id, name := secretTarget(sec.AppID, sec.AppName, sec.Name)
	return o.audit(backend.ActionAppSecretDelete, backend.TargetAppSecret, id, name, detail)
}

// PutAppSecret stores an app secret (see PutAppSecretRequest). A change of
// the stored value or binding redeploys the app if it is meant to be
// deployed: undeploy, put, deploy, in this one transaction.
func (s *Service) PutAppSecret(ctx context.Context, req backend.PutAppSecretRequest) (*backend.AppSecret, error) {
	if err := validateID("app_id", req.AppID); err != nil {
		return nil, err
	}
	if err := backend.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	if req.AccountID != "" {
		if err := validateID("api_key_account_id", req.AccountID); err != nil {
			return nil, err
		}
	}
	if req.Value != nil {
		if err := validateSecretValue(*req.Value); err != nil {
			return nil, err
		}
	}
	return writeUnheldValue(s, ctx, func(o *op) (*backend.AppSecret, error) {
		app, err := o.getUnheldApp(req.AppID)
		if err != nil {
			return nil, err
		}
		if err := o.checkNoActiveRotation(req.AccountID); err != nil {
			return nil, err
		}
		prev, err := o.tx.GetAppSecret(o.ctx, app.ID, req.Name)
		existed := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		value, detail, err := o.appSecretValue(app, req, prev, existed)
		if err != nil {
			return nil, err
		}
		if existed && prev.AccountID == req.AccountID {
			same, err := o.holds(prev, value)
			if err != nil {
				return nil, err
			}
			if same {
				// What is stored already: no event, no redeploy.
				prev.AppName = app.Name
				sec := toAppSecret(prev)
				return &sec, nil
			}
		}

		var stoppedAt time.Time
		if app.Deployed {
			if stoppedAt, err = o.pause(&app, "to change app secret "+req.Name); err != nil {
				return nil, err
			}
		}
		row := store.AppSecretRow{
			AppID:      app.ID,
			Name:       req.Name,
			AccountID:  req.AccountID,
			Ciphertext: prev.Ciphertext,
			UpdatedAt:  o.now,
			AppName:    app.Name,
		}
		if value != nil {
			row.Ciphertext = o.s.box.Seal(value)
		}
		if err := o.tx.PutAppSecret(o.ctx, row); err != nil {
			return nil, err
		}
		id, name := secretTarget(app.ID, app.Name, req.Name)
		if err := o.audit(backend.ActionAppSecretPut, backend.TargetAppSecret, id, name, detail); err != nil {
			return nil, err
		}
		if app.Deployed {
			if err := o.redeploy(&app, stoppedAt); err != nil {
				return nil, err
			}
		}
		sec := toAppSecret(row)
		return &sec, nil
	})
}

// appSecretValue decides the plaintext a put stores (nil: keep the stored
// ciphertext) and the audit detail that says where it came from.
func (o *op) appSecretValue(app store.AppRow, req backend.PutAppSecretRequest, prev store.AppSecretRow, existed bool) ([]byte, string, error) {
	if req.AccountID == "" {
		switch {
		case req.Value != nil:
			return []byte(*req.Value), "unbound, value set", nil
		case existed && prev.Ciphertext != nil:
			return nil, "unbound, value kept", nil
		}
		return nil, "", backend.InvalidField("value", "app secret %q of app %q is not bound to an API key account, so it needs "+
			"a value: set value (or value_wo), or bind it with api_key_account_id", req.Name, app.Name)
	}
	acc, err := o.getAccount(req.AccountID)
	if err != nil {
		return nil, "", err
	}
	if acc.Admin {
		return nil, "", backend.InvalidField("api_key_account_id", "API key account %q is an admin account: admin accounts are "+
			"never bound to apps. Bind the app secret to a non-admin API key account", acc.Name)
	}
	if acc.AppHost != "" {
		return nil, "", backend.InvalidField("api_key_account_id", "API key account %q is the identity of App Host %q: an "+
			"App Host's account is never bound to an app. Bind the app secret to another API key account", acc.Name, acc.AppHost)
	}
	detail := "api_key_account=" + acc.Name
	if req.Value != nil {
		if subtle.ConstantTimeCompare(hashSecret(*req.Value), acc.SecretHash) != 1 {
			// A stale copy would make the app fail its logins and lock the account.
			return nil, "", &backend.Error{Code: backend.CodeStaleValue, Field: "value", Message: fmt.Sprintf(
				"the value of app secret %q of app %q is not the current secret of API key account %q "+
					"(secret_version %d). A bound secret needs no value: remove `value` (or `value_wo`), and "+
					"the backend fills it with the account's current secret and rotates it with the account",
				req.Name, app.Name, acc.Name, acc.SecretVersion)}
		}
		return []byte(*req.Value), detail + ", value set", nil
	}
	if acc.SealedSecret == nil {
		return nil, "", &backend.Error{Code: backend.CodeNoSealedSecret, Field: "api_key_account_id", Message: fmt.Sprintf(
			"API key account %q has no sealed copy of its secret (it was created by an older version of apphost), "+
				"so the backend cannot fill the bound app secret %q of app %q. Rotate that account once (change its "+
				"rotation_triggers and apply), then apply again", acc.Name, req.Name, app.Name)}
	}
	plain, err := o.s.box.Open(acc.SealedSecret)
	if err != nil {
		return nil, "", &backend.Error{Code: backend.CodeKeyFile, Message: fmt.Sprintf("cannot decrypt the sealed secret of API key account %q", acc.Name), Err: err}
	}
	// A sealed copy that is not the current secret (left by a path that
	// changed the hash without resealing, such as an older server on the same
	// store) would make the app fail its logins and lock the account.
	if subtle.ConstantTimeCompare(hashSecret(string(plain)), acc.SecretHash) != 1 {
		return nil, "", &backend.Error{Code: backend.CodeNoSealedSecret, Field: "api_key_account_id", Message: fmt.Sprintf(
			"the sealed copy of the secret of API key account %q is not its current secret (it was regenerated by an "+
				"older version of apphost), so the backend cannot fill the bound app secret %q of app %q. Rotate that "+
				"account once (change its rotation_triggers and apply), then apply again", acc.Name, req.Name, app.Name)}
	}
	return plain, detail + ", filled from the account", nil
}

// checkNoActiveRotation returns errBusy while the account ("" : none) is
// being rotated: a binding created meanwhile waits for the rotation's end.
func (o *op) checkNoActiveRotation(accountID string) error {
	if accountID == "" {
		return nil
	}
	active, err := o.tx.ListRotations(o.ctx, store.RotationFilter{AccountID: accountID, ActiveOnly: true, Limit: 1})
	if err != nil {
		return err
	}
	if len(active) > 0 {
		return errBusy{active[0].ID}
	}
	return nil
}

// holds reports whether sec already stores value (nil: the value is kept).
func (o *op) holds(sec store.AppSecretRow, value []byte) (bool, error) {
	if value == nil {
		return true, nil
	}
	if sec.Ciphertext == nil {
		return false, nil
	}
	plain, err := o.s.box.Open(sec.Ciphertext)
	if err != nil {
		return false, &backend.Error{Code: backend.CodeKeyFile, Message: fmt.Sprintf("cannot decrypt app secret %q", sec.Name), Err: err}
	}
	return subtle.ConstantTimeCompare(plain, value) == 1, nil
}

// GetAppSecret returns an app secret, never its value.
func (s *Service) GetAppSecret(ctx context.Context, appID, name string) (*backend.AppSecret, error) {
	if err := validateID("app_id", appID); err != nil {
		return nil, err
	}
	return readValue(s, ctx, func(o *op) (*backend.AppSecret, error) {
		app, err := o.getApp(appID)
		if err != nil {
			return nil, err
		}
		row, err := o.getAppSecret(app, name)
		if err != nil {
			return nil, err
		}
		sec := toAppSecret(row)
		return &sec, nil
	})
}

func (o *op) getAppSecret(app store.AppRow, name string) (store.AppSecretRow, error) {
	row, err := o.tx.GetAppSecret(o.ctx, app.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return row, backend.Errorf(backend.CodeNotFound, "app secret %q of app %q not found", name, app.Name)
	}
	row.AppName = app.Name
	return row, err
}

// DeleteAppSecret removes an app secret: it undeploys the app, removes the
// secret and deploys the app again if it is meant to be deployed, so an app
// never stays stopped because one of its secrets went.
func (s *Service) DeleteAppSecret(ctx context.Context, req backend.DeleteAppSecretRequest) error {
	if err := validateID("app_id", req.AppID); err != nil {
		return err
	}
	return s.writeUnheld(ctx, func(o *op) error {
		app, err := o.getUnheldApp(req.AppID)
		if err != nil {
			return err
		}
		row, err := o.getAppSecret(app, req.Name)
		if err != nil {
			return err
		}
		stoppedAt, err := o.pause(&app, "to remove app secret "+req.Name)
		if err != nil {
			return err
		}
		if err := o.deleteAppSecret(row, ""); err != nil {
			return err
		}
		if !app.Deployed {
			return nil
		}
		return o.redeploy(&app, stoppedAt)
	})
}

// ListAuditEvents returns audit events oldest first.
func (s *Service) ListAuditEvents(ctx context.Context, q backend.AuditQuery) ([]backend.AuditEvent, error) {
	if q.Limit < 0 {
		return nil, backend.InvalidField("limit", "limit must not be negative")
	}
	if q.AfterSeq < 0 {
		return nil, backend.InvalidField("after_seq", "after_seq must not be negative")
	}
	return readValue(s, ctx, func(o *op) ([]backend.AuditEvent, error) {
		rows, err := o.tx.ListAudit(o.ctx, q.AfterSeq, q.Limit)
		return toAuditEvents(rows), err
	})
}
