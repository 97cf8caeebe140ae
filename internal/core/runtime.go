package core

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// The App Host runtime. It acts synchronously inside the transaction of the
// call that triggers it (a deploy, or the redeploy of a rotation or of a
// secret change), so its logins, a lock it causes and the app's status are in
// the store when that call returns.

// runApp has the App Host start app: every secret with a value and an account
// binding logs in, as the app. It returns the app's resulting status.
func (o *op) runApp(app store.AppRow, secrets []store.AppSecretRow) (string, error) {
	status := backend.StatusRunning
	for _, sec := range secrets {
		if sec.AccountID == "" || sec.Ciphertext == nil {
			continue // nothing to log in with
		}
		plain, err := o.s.box.Open(sec.Ciphertext)
		if err != nil {
			return "", &backend.Error{
				Code:    backend.CodeKeyFile,
				Message: fmt.Sprintf("cannot decrypt app secret %q of app %q", sec.Name, app.Name),
				Err:     err,
			}
		}
		ok, err := o.appLogin(app.Name, sec.AccountID, string(plain))
		if err != nil {
			return "", err
		}
		if !ok {
			status = backend.StatusFailed
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
	return o.redeploy(app, time.Time{})
}

// redeploy deploys app, which this transaction stopped at stoppedAt (zero:
// it was not running), and says in the event how long it was down.
func (o *op) redeploy(app *store.AppRow, stoppedAt time.Time) error {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	return o.deployWith(app, secrets, stoppedAt)
}

// resume starts again, if it is meant to be deployed, an app that was
// paused at stoppedAt (zero: it was not running) for a change of its secrets.
func (o *op) resume(app *store.AppRow, stoppedAt time.Time) error {
	app.Paused = false
	if !app.Deployed {
		app.UpdatedAt = o.now
		return o.tx.UpdateApp(o.ctx, *app)
	}
	return o.redeploy(app, stoppedAt)
}

// missingSecret returns the first of the app's secret_names that it has no
// secret of ("" when it has them all).
func missingSecret(app store.AppRow, secrets []store.AppSecretRow) string {
	for _, name := range app.SecretNames {
		found := false
		for _, sec := range secrets {
			if sec.Name == name && sec.Ciphertext != nil {
				found = true
				break
			}
		}
		if !found {
			return name
		}
	}
	return ""
}

// deployWith deploys app with secrets, its app secrets as they are now. An
// app that lacks one of its secret_names is not started: it waits, pending.
func (o *op) deployWith(app *store.AppRow, secrets []store.AppSecretRow, stoppedAt time.Time) error {
	app.Deployed, app.Paused, app.UpdatedAt = true, false, o.now
	h, err := o.hostOf(app.AppHost)
	if err != nil {
		return err
	}
	if h.real {
		// Its App Host starts it; its status follows from the host's
		// reports and the app's logins (evalStatus).
		if err := o.touch(app); err != nil {
			return err
		}
		if err := o.tx.UpdateApp(o.ctx, *app); err != nil {
			return err
		}
		return o.evalStatus(app, secrets, h)
	}
	if missing := missingSecret(*app, secrets); missing != "" {
		detail := fmt.Sprintf("waiting for app secret %q (in secret_names)", missing)
		if app.Status != backend.StatusPending || app.StatusDetail != detail {
			app.Status, app.StatusDetail = backend.StatusPending, detail
			if err := o.audit(backend.ActionAppStatus, backend.TargetApp, app.ID, app.Name, "pending: "+detail); err != nil {
				return err
			}
		}
		return o.tx.UpdateApp(o.ctx, *app)
	}
	detail := fmt.Sprintf("app_host=%s, version=%s", app.AppHost, detailValue(app.Version))
	if !stoppedAt.IsZero() {
		detail += fmt.Sprintf(", downtime_ms=%.3f", float64(o.clock().Sub(stoppedAt))/float64(time.Millisecond))
	}
	if err := o.audit(backend.ActionAppDeploy, backend.TargetApp, app.ID, app.Name, detail); err != nil {
		return err
	}
	status, err := o.runApp(*app, secrets)
	if err != nil {
		return err
	}
	app.Status, app.StatusDetail, app.PausedAt = status, "", time.Time{}
	if status == backend.StatusFailed {
		app.StatusDetail = "a login with its secrets failed"
	}
	return o.tx.UpdateApp(o.ctx, *app)
}

// detailValue writes a free-text value into an audit detail ("a=1, b=2"):
// quoted when it could pass for more fields, so that a version such as
// "1, downtime_ms=0" cannot forge the downtime that readers take from the
// detail.
func detailValue(v string) string {
	if strings.ContainsAny(v, `,="`) || strings.TrimSpace(v) != v {
		return strconv.Quote(v)
	}
	return v
}

// stop stops app on its App Host. keepDeployed leaves it meant to be deployed
// (stopped while its secrets change) rather than undeployed for good.
func (o *op) stop(app *store.AppRow, keepDeployed bool, detail string) error {
	if err := o.audit(backend.ActionAppUndeploy, backend.TargetApp, app.ID, app.Name, detail); err != nil {
		return err
	}
	app.Deployed, app.Paused, app.UpdatedAt = keepDeployed, keepDeployed, o.now
	h, err := o.hostOf(app.AppHost)
	if err != nil {
		return err
	}
	if h.real {
		// Its App Host stops it and reports so.
		if err := o.touch(app); err != nil {
			return err
		}
		if err := o.tx.UpdateApp(o.ctx, *app); err != nil {
			return err
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
		if err != nil {
			return err
		}
		return o.evalStatus(app, secrets, h)
	}
	app.Status, app.StatusDetail = backend.StatusStopped, ""
	return o.tx.UpdateApp(o.ctx, *app)
}

// pause stops app, if it runs, for a change of its secrets, keeping it meant
// to be deployed; it returns when it stopped it (zero if it did not).
func (o *op) pause(app *store.AppRow, detail string) (time.Time, error) {
	if !(backend.App{Status: app.Status}).Running() && app.Status != backend.StatusStarting {
		return time.Time{}, nil
	}
	at := o.clock()
	if app.PausedAt.IsZero() {
		app.PausedAt = at // its downtime runs from here to its next healthy start
	}
	if err := o.stop(app, true, detail); err != nil {
		return time.Time{}, err
	}
	return at, nil
}
