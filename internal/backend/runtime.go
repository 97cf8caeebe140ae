package backend

import (
	"fmt"
	"slices"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// The App Host runtime. It acts synchronously inside the transaction of the
// call that triggers it (deploy, reload, regenerate), so its logins, a lock it
// causes and the app's status are in the store when that call returns.

// runApp has the App Host start app: every secret with a value and an account
// binding logs in, as the app. It returns the app's resulting status.
func (o *op) runApp(app store.AppRow, secrets []store.AppSecretRow) (string, error) {
	status := StatusRunning
	for _, sec := range secrets {
		if sec.AccountID == "" || sec.Ciphertext == nil {
			continue // nothing to log in with
		}
		plain, err := o.s.box.Open(sec.Ciphertext)
		if err != nil {
			return "", &Error{
				Code:    CodeKeyFile,
				Message: fmt.Sprintf("cannot decrypt app secret %q of app %q", sec.Name, app.Name),
				Err:     err,
			}
		}
		ok, err := o.appLogin(app.Name, sec.AccountID, string(plain))
		if err != nil {
			return "", err
		}
		if !ok {
			status = StatusFailed
		}
	}
	return status, nil
}

// appLogin logs in the way an app does: it retries a failed login until it
// succeeds or the account is locked, so a stale secret really locks the account.
func (o *op) appLogin(appName, accountID, secret string) (bool, error) {
	// The bound is a safety net; a wrong secret locks within threshold tries.
	for range o.s.threshold + 1 {
		res, _, err := o.attemptLogin(appName, accountID, secret)
		if err != nil {
			return false, err
		}
		switch res {
		case loginOK:
			return true, nil
		case loginUnknown, loginLocked:
			return false, nil // retrying cannot help
		}
	}
	return false, nil
}

// deploy makes app meant to be deployed and starts it.
func (o *op) deploy(app *store.AppRow) error {
	if err := o.audit(ActionAppDeploy, TargetApp, app.ID, app.Name,
		fmt.Sprintf("app_host=%s, version=%s", app.AppHost, app.Version)); err != nil {
		return err
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	status, err := o.runApp(*app, secrets)
	if err != nil {
		return err
	}
	app.Deployed, app.Status, app.UpdatedAt = true, status, o.now
	return o.tx.UpdateApp(o.ctx, *app)
}

// stop stops app on its App Host. keepDeployed leaves it meant to be deployed
// (stopped while a secret is replaced) rather than undeployed for good.
func (o *op) stop(app *store.AppRow, keepDeployed bool, detail string) error {
	if err := o.audit(ActionAppUndeploy, TargetApp, app.ID, app.Name, detail); err != nil {
		return err
	}
	app.Deployed, app.Status, app.UpdatedAt = keepDeployed, StatusStopped, o.now
	return o.tx.UpdateApp(o.ctx, *app)
}

// reload has a running app log in again with the secrets it now holds.
func (o *op) reload(app *store.AppRow, secrets []store.AppSecretRow) error {
	status, err := o.runApp(*app, secrets)
	if err != nil {
		return err
	}
	if status == app.Status {
		return nil
	}
	app.Status, app.UpdatedAt = status, o.now
	return o.tx.UpdateApp(o.ctx, *app)
}

// reloadAppsBoundTo reloads every running app with a secret bound to account
// id, as the App Host does right after the account's secret is regenerated.
func (o *op) reloadAppsBoundTo(id string) error {
	apps, err := o.tx.ListAppsBoundTo(o.ctx, id)
	if err != nil {
		return err
	}
	apps = slices.DeleteFunc(apps, func(a store.AppRow) bool { return !(App{Status: a.Status}).Running() })
	if len(apps) == 0 {
		return nil
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{OfAppsBoundTo: id})
	if err != nil {
		return err
	}
	byApp := map[string][]store.AppSecretRow{}
	for _, sec := range secrets {
		byApp[sec.AppID] = append(byApp[sec.AppID], sec)
	}
	for _, app := range apps {
		if err := o.reload(&app, byApp[app.ID]); err != nil {
			return err
		}
	}
	return nil
}
