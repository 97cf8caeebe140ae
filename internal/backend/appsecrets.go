package backend

import (
	"context"
	"errors"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

func toAppSecret(r store.AppSecretRow) AppSecret {
	return AppSecret{
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
	return o.audit(ActionAppSecretDelete, TargetAppSecret, id, name, detail)
}

// PutAppSecret stores an app secret. A running app reloads (logs in again)
// when its value or binding changes; with Redeploy, an app meant to be
// deployed but stopped is deployed again.
func (s *Service) PutAppSecret(ctx context.Context, req PutAppSecretRequest) (*AppSecret, error) {
	if err := validateID("app_id", req.AppID); err != nil {
		return nil, err
	}
	if err := validateName("name", req.Name); err != nil {
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
	var out *AppSecret
	err := s.write(ctx, func(o *op) error {
		app, err := o.getApp(req.AppID)
		if err != nil {
			return err
		}
		detail := "unbound"
		if req.AccountID != "" {
			acc, err := o.getAccount(req.AccountID)
			if err != nil {
				return err
			}
			detail = "api_key_account=" + acc.Name
		}
		prev, err := o.tx.GetAppSecret(o.ctx, app.ID, req.Name)
		existed := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		row := store.AppSecretRow{
			AppID:      app.ID,
			Name:       req.Name,
			AccountID:  req.AccountID,
			Ciphertext: prev.Ciphertext,
			UpdatedAt:  o.now,
			AppName:    app.Name,
		}
		if req.Value != nil {
			row.Ciphertext = o.s.box.Seal([]byte(*req.Value))
			detail += ", value set"
		} else {
			detail += ", value kept"
		}
		if err := o.tx.PutAppSecret(o.ctx, row); err != nil {
			return err
		}
		id, name := secretTarget(app.ID, app.Name, req.Name)
		if err := o.audit(ActionAppSecretPut, TargetAppSecret, id, name, detail); err != nil {
			return err
		}

		changed := req.Value != nil || !existed || prev.AccountID != req.AccountID
		switch {
		case (App{Status: app.Status}).Running() && changed:
			secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
			if err != nil {
				return err
			}
			if err := o.reload(&app, secrets); err != nil {
				return err
			}
		case req.Redeploy && app.Deployed && app.Status == StatusStopped:
			if err := o.deploy(&app); err != nil {
				return err
			}
		}
		sec := toAppSecret(row)
		out = &sec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetAppSecret returns an app secret, never its value.
func (s *Service) GetAppSecret(ctx context.Context, appID, name string) (*AppSecret, error) {
	if err := validateID("app_id", appID); err != nil {
		return nil, err
	}
	var out *AppSecret
	err := s.read(ctx, func(o *op) error {
		app, err := o.getApp(appID)
		if err != nil {
			return err
		}
		row, err := o.getAppSecret(app, name)
		if err != nil {
			return err
		}
		sec := toAppSecret(row)
		out = &sec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (o *op) getAppSecret(app store.AppRow, name string) (store.AppSecretRow, error) {
	row, err := o.tx.GetAppSecret(o.ctx, app.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return row, Errorf(CodeNotFound, "app secret %q of app %q not found", name, app.Name)
	}
	row.AppName = app.Name
	return row, err
}

// DeleteAppSecret removes an app secret. With Undeploy a running app is
// stopped first but stays meant to be deployed: the first half of a rotation.
func (s *Service) DeleteAppSecret(ctx context.Context, req DeleteAppSecretRequest) error {
	if err := validateID("app_id", req.AppID); err != nil {
		return err
	}
	return s.write(ctx, func(o *op) error {
		app, err := o.getApp(req.AppID)
		if err != nil {
			return err
		}
		row, err := o.getAppSecret(app, req.Name)
		if err != nil {
			return err
		}
		if req.Undeploy && (App{Status: app.Status}).Running() {
			if err := o.stop(&app, true, "to replace app secret "+req.Name); err != nil {
				return err
			}
		}
		return o.deleteAppSecret(row, "")
	})
}

// ListAuditEvents returns audit events oldest first.
func (s *Service) ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	if q.Limit < 0 {
		return nil, InvalidField("limit", "limit must not be negative")
	}
	if q.AfterSeq < 0 {
		return nil, InvalidField("after_seq", "after_seq must not be negative")
	}
	out := []AuditEvent{}
	err := s.read(ctx, func(o *op) error {
		rows, err := o.tx.ListAudit(o.ctx, q.AfterSeq, q.Limit)
		if err != nil {
			return err
		}
		for _, r := range rows {
			out = append(out, AuditEvent{
				Seq:        r.Seq,
				Time:       r.Time.UTC(),
				Actor:      r.Actor,
				Action:     r.Action,
				TargetType: r.TargetType,
				TargetID:   r.TargetID,
				TargetName: r.TargetName,
				Detail:     r.Detail,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
