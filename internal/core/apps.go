package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

func appNotFound(id string) *backend.Error {
	return backend.Errorf(backend.CodeNotFound, "app %q not found", id)
}

func appNameTaken(name string) *backend.Error {
	return &backend.Error{Code: backend.CodeConflict, Field: "name", Message: fmt.Sprintf("an app named %q already exists", name)}
}

func (o *op) getApp(id string) (store.AppRow, error) {
	return lookup(o, id, o.tx.GetApp, func() *backend.Error { return appNotFound(id) })
}

func (o *op) checkAppNameFree(name string) error {
	if _, err := o.tx.GetAppByName(o.ctx, name); err == nil {
		return appNameTaken(name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// loadApp returns app as the API shows it, with its secrets.
func (o *op) loadApp(row store.AppRow) (*backend.App, error) {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: row.ID})
	if err != nil {
		return nil, err
	}
	a := toApp(row, secrets)
	return &a, nil
}

func toApp(r store.AppRow, secrets []store.AppSecretRow) backend.App {
	cfg := map[string]string{}
	maps.Copy(cfg, r.Config)
	out := backend.App{
		ID:           r.ID,
		Name:         r.Name,
		AppHost:      r.AppHost,
		Version:      r.Version,
		Config:       cfg,
		Deployed:     r.Deployed,
		Status:       r.Status,
		StatusDetail: r.StatusDetail,
		SecretNames:  slices.Clone(r.SecretNames),
		HeldBy:       r.HeldBy,
		AppRuntime: backend.AppRuntime{Command: slices.Clone(r.Command), StopTimeout: r.StopTimeout.String(),
			StartTimeout: r.StartTimeout.String(), ReloadSignal: r.ReloadSignal},
		CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
		Secrets:   make([]backend.AppSecret, 0, len(secrets)),
	}
	if out.SecretNames == nil {
		out.SecretNames = []string{}
	}
	if r.Observed.Phase != "" {
		out.Process = &backend.AppProcess{Phase: r.Observed.Phase, PID: r.Observed.PID, StartedAt: r.Observed.StartedAt.UTC(),
			Restarts: r.Observed.Restarts, ReportedAt: r.Observed.ReportedAt.UTC()}
	}
	for _, s := range secrets {
		s.AppName = r.Name
		out.Secrets = append(out.Secrets, toAppSecret(s))
	}
	return out
}

// appSettings is what CreateApp and UpdateApp share.
type appSettings struct {
	Name, AppHost, Version string
	Config                 map[string]string
	SecretNames            []string
	Runtime                backend.AppRuntime
	// Parsed from Runtime by validate.
	stopTimeout, startTimeout time.Duration
}

func (a *appSettings) validate() error {
	if a.AppHost == "" {
		a.AppHost = backend.DefaultAppHost
	}
	if a.Config == nil {
		a.Config = map[string]string{}
	}
	if err := backend.ValidateName("name", a.Name); err != nil {
		return err
	}
	if err := backend.ValidateName("app_host", a.AppHost); err != nil {
		return err
	}
	if err := validateVersion(a.Version); err != nil {
		return err
	}
	if err := validateSecretNames(a.SecretNames); err != nil {
		return err
	}
	var err error
	if a.stopTimeout, a.startTimeout, err = validateRuntime(a.Runtime); err != nil {
		return err
	}
	a.SecretNames = slices.Sorted(slices.Values(a.SecretNames))
	if len(a.SecretNames) == 0 {
		a.SecretNames = nil
	}
	return validateConfig(a.Config)
}

// CreateApp creates an app and, when req.Deployed, deploys it at once.
func (s *Service) CreateApp(ctx context.Context, req backend.CreateAppRequest) (*backend.App, error) {
	set := appSettings{Name: req.Name, AppHost: req.AppHost, Version: req.Version, Config: req.Config, SecretNames: req.SecretNames, Runtime: req.AppRuntime}
	if err := set.validate(); err != nil {
		return nil, err
	}
	return writeValue(s, ctx, func(o *op) (*backend.App, error) {
		if err := o.checkAppNameFree(set.Name); err != nil {
			return nil, err
		}
		row := store.AppRow{
			ID:           uuid.NewString(),
			Name:         set.Name,
			AppHost:      set.AppHost,
			Version:      set.Version,
			Config:       set.Config,
			Status:       backend.StatusStopped,
			SecretNames:  set.SecretNames,
			Command:      set.Runtime.Command,
			StopTimeout:  set.stopTimeout,
			StartTimeout: set.startTimeout,
			ReloadSignal: set.Runtime.ReloadSignal,
			CreatedAt:    o.now,
			UpdatedAt:    o.now,
		}
		if err := o.tx.InsertApp(o.ctx, row); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil, appNameTaken(set.Name)
			}
			return nil, err
		}
		if err := o.audit(backend.ActionAppCreate, backend.TargetApp, row.ID, row.Name, "app_host="+row.AppHost); err != nil {
			return nil, err
		}
		if req.Deployed {
			if err := o.deploy(&row); err != nil {
				return nil, err
			}
		}
		// A new app has no secrets yet.
		a := toApp(row, nil)
		return &a, nil
	})
}

// GetApp returns the app with id.
func (s *Service) GetApp(ctx context.Context, id string) (*backend.App, error) {
	return s.getAppBy(ctx, func(o *op) (store.AppRow, error) { return o.getApp(id) })
}

// GetAppByName returns the app named name.
func (s *Service) GetAppByName(ctx context.Context, name string) (*backend.App, error) {
	return s.getAppBy(ctx, func(o *op) (store.AppRow, error) {
		return lookupName(o, "app", name, o.tx.GetAppByName)
	})
}

func (s *Service) getAppBy(ctx context.Context, get func(o *op) (store.AppRow, error)) (*backend.App, error) {
	return readValue(s, ctx, func(o *op) (*backend.App, error) {
		row, err := get(o)
		if err != nil {
			return nil, err
		}
		return o.loadApp(row)
	})
}

// ListApps returns the apps sorted by name, in two queries whatever their
// number (one when there are none).
func (s *Service) ListApps(ctx context.Context, req backend.ListAppsRequest) ([]backend.App, error) {
	return readValue(s, ctx, func(o *op) ([]backend.App, error) {
		// With a key, only the apps bound to it and their secrets are read:
		// a plan asks this for every key it rotates.
		listApps := o.tx.ListApps
		var filter store.AppSecretFilter
		if req.BoundToAccountID != "" {
			listApps = func(ctx context.Context) ([]store.AppRow, error) {
				return o.tx.ListAppsBoundTo(ctx, req.BoundToAccountID)
			}
			filter.OfAppsBoundTo = req.BoundToAccountID
		}
		rows, err := listApps(o.ctx)
		if err != nil {
			return nil, err
		}
		out := []backend.App{}
		if len(rows) == 0 {
			return out, nil
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, filter)
		if err != nil {
			return nil, err
		}
		byApp := secretsByApp(secrets)
		for _, r := range rows {
			if a := toApp(r, byApp[r.ID]); matchApp(a, req) {
				out = append(out, a)
			}
		}
		return out, nil
	})
}

// secretsByApp groups secrets by the ID of their app.
func secretsByApp(secrets []store.AppSecretRow) map[string][]store.AppSecretRow {
	byApp := map[string][]store.AppSecretRow{}
	for _, sec := range secrets {
		byApp[sec.AppID] = append(byApp[sec.AppID], sec)
	}
	return byApp
}

func matchApp(a backend.App, req backend.ListAppsRequest) bool {
	if req.AppHost != "" && a.AppHost != req.AppHost {
		return false
	}
	if req.Running != nil && a.Running() != *req.Running {
		return false
	}
	if req.Deployed != nil && a.Deployed != *req.Deployed {
		return false
	}
	if req.BoundToAccountID != "" {
		for _, s := range a.Secrets {
			if s.AccountID == req.BoundToAccountID {
				return true
			}
		}
		return false
	}
	return true
}

// UpdateApp replaces an app's settings. A change while the app runs is
// applied as undeploy, change, deploy, as on a real App Host.
func (s *Service) UpdateApp(ctx context.Context, req backend.UpdateAppRequest) (*backend.App, error) {
	if err := validateID("id", req.ID); err != nil {
		return nil, err
	}
	set := appSettings{Name: req.Name, AppHost: req.AppHost, Version: req.Version, Config: req.Config, SecretNames: req.SecretNames, Runtime: req.AppRuntime}
	if err := set.validate(); err != nil {
		return nil, err
	}
	return writeUnheldValue(s, ctx, func(o *op) (*backend.App, error) {
		row, err := o.getUnheldApp(req.ID)
		if err != nil {
			return nil, err
		}
		var changed []string
		if set.Name != row.Name {
			if err := o.checkAppNameFree(set.Name); err != nil {
				return nil, err
			}
			changed = append(changed, "name")
		}
		if set.AppHost != row.AppHost {
			changed = append(changed, "app_host")
		}
		if set.Version != row.Version {
			changed = append(changed, "version")
		}
		if !maps.Equal(set.Config, row.Config) {
			changed = append(changed, "config")
		}
		if !slices.Equal(set.Runtime.Command, row.Command) {
			changed = append(changed, "command")
		}
		if set.stopTimeout != row.StopTimeout || set.startTimeout != row.StartTimeout || set.Runtime.ReloadSignal != row.ReloadSignal {
			changed = append(changed, "timeouts or reload_signal")
		}
		// secret_names restart nothing by themselves: the app stops only if
		// it now lacks a secret it needs, and starts once it has them all.
		namesChanged := !slices.Equal(set.SecretNames, row.SecretNames)
		row.SecretNames = set.SecretNames

		// Starting too: an app that crash-loops runs (or is about to run)
		// its old command, which only a new generation replaces.
		wasRunning := (backend.App{Status: row.Status}).Running() || row.Status == backend.StatusStarting
		if len(changed) > 0 {
			if wasRunning {
				// Stopped for good right away when the update also undeploys.
				if err := o.stop(&row, row.Deployed && req.Deployed, "to apply a change"); err != nil {
					return nil, err
				}
			}
			oldName := row.Name
			row.Name, row.AppHost, row.Version, row.Config = set.Name, set.AppHost, set.Version, set.Config
			row.Command, row.StopTimeout, row.StartTimeout, row.ReloadSignal = set.Runtime.Command, set.stopTimeout, set.startTimeout, set.Runtime.ReloadSignal
			row.UpdatedAt = o.now
			if err := o.tx.UpdateApp(o.ctx, row); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return nil, appNameTaken(set.Name)
				}
				return nil, err
			}
			detail := "changed " + strings.Join(changed, ", ")
			if oldName != row.Name {
				detail += " (was " + oldName + ")"
			}
			if err := o.audit(backend.ActionAppUpdate, backend.TargetApp, row.ID, row.Name, detail); err != nil {
				return nil, err
			}
		}

		switch {
		case req.Deployed && (!row.Deployed || (wasRunning && len(changed) > 0)):
			// Newly meant to be deployed, or running before the change. An app
			// meant to be deployed but stopped (its secret being replaced)
			// stays stopped until the secret is put back.
			err = o.deploy(&row)
		case !req.Deployed && row.Deployed:
			err = o.stop(&row, false, "")
		case namesChanged && row.Deployed:
			err = o.applySecretNames(&row)
		}
		if err != nil {
			return nil, err
		}
		if namesChanged && len(changed) == 0 {
			if err := o.tx.UpdateApp(o.ctx, row); err != nil {
				return nil, err
			}
			if err := o.audit(backend.ActionAppUpdate, backend.TargetApp, row.ID, row.Name, "changed secret_names"); err != nil {
				return nil, err
			}
		}
		return o.loadApp(row)
	})
}

// DeployApp makes the app meant to be deployed and starts it; a failed app
// is started again. A running app is left as it is.
func (s *Service) DeployApp(ctx context.Context, id string) (*backend.App, error) {
	return s.changeApp(ctx, id, func(o *op, row *store.AppRow) error {
		if row.Deployed && row.Status == backend.StatusRunning {
			return nil
		}
		return o.deploy(row)
	})
}

// UndeployApp makes the app not meant to be deployed and stops it.
func (s *Service) UndeployApp(ctx context.Context, id string) (*backend.App, error) {
	return s.changeApp(ctx, id, func(o *op, row *store.AppRow) error {
		if !row.Deployed && row.Status == backend.StatusStopped {
			return nil
		}
		return o.stop(row, false, "")
	})
}

// changeApp runs change on the app with id in one write transaction and
// returns the app as it leaves it.
func (s *Service) changeApp(ctx context.Context, id string, change func(o *op, row *store.AppRow) error) (*backend.App, error) {
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	return writeUnheldValue(s, ctx, func(o *op) (*backend.App, error) {
		row, err := o.getUnheldApp(id)
		if err != nil {
			return nil, err
		}
		if err := change(o, &row); err != nil {
			return nil, err
		}
		return o.loadApp(row)
	})
}

// DeleteApp stops the app if it runs and deletes it with its secrets.
func (s *Service) DeleteApp(ctx context.Context, id string) error {
	if err := validateID("id", id); err != nil {
		return err
	}
	return s.writeUnheld(ctx, func(o *op) error {
		row, err := o.getUnheldApp(id)
		if err != nil {
			return err
		}
		if (backend.App{Status: row.Status}).Running() {
			if err := o.stop(&row, false, "app deleted"); err != nil {
				return err
			}
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: row.ID})
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			if err := o.deleteAppSecret(sec, "app deleted"); err != nil {
				return err
			}
		}
		if err := o.tx.DeleteApp(o.ctx, row.ID); err != nil {
			return err
		}
		return o.audit(backend.ActionAppDelete, backend.TargetApp, row.ID, row.Name, "")
	})
}

// getUnheldApp returns the app, or errBusy while a rotation holds it: a
// write to a held app waits for the rotation's end.
func (o *op) getUnheldApp(id string) (store.AppRow, error) {
	app, err := o.getApp(id)
	if err == nil && app.HeldBy != "" {
		return app, errBusy{app.HeldBy}
	}
	return app, err
}

// writeUnheld is write for changes that must wait for the rotations that
// hold what they touch: on errBusy it waits for that rotation to end (taking
// it over if its driver's lease expired) and runs fn again.
func (s *Service) writeUnheld(ctx context.Context, fn func(o *op) error) error {
	_, err := writeUnheldValue(s, ctx, func(o *op) (struct{}, error) { return struct{}{}, fn(o) })
	return err
}

// writeUnheldValue is writeUnheld for a change that returns a value.
func writeUnheldValue[T any](s *Service, ctx context.Context, fn func(o *op) (T, error)) (T, error) {
	for {
		v, err := writeValue(s, ctx, fn)
		var busy errBusy
		if !errors.As(err, &busy) {
			return v, err
		}
		if err := s.awaitRotation(ctx, busy.rotationID); err != nil {
			return v, err
		}
	}
}

// applySecretNames stops a running app that now lacks a secret it needs
// (it waits, pending) and starts a pending one that now has them all.
func (o *op) applySecretNames(app *store.AppRow) error {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	missing := missingSecret(*app, secrets)
	switch {
	case missing != "" && (backend.App{Status: app.Status}).Running():
		stoppedAt, err := o.pause(app, fmt.Sprintf("app secret %q, in secret_names, is missing", missing))
		if err != nil {
			return err
		}
		return o.deployWith(app, secrets, stoppedAt)
	case missing == "" && app.Status == backend.StatusPending:
		return o.deployWith(app, secrets, time.Time{})
	}
	return nil
}
