package core

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// overlap, beyond the seed (whose keys hold one secret):
//
//	preparing     as stop_first: hold every app bound to the key; their App Hosts must answer
//	issuing       issue a pending secret beside the current one: both log in
//	moving        the deployed apps move to it one at a time, in app name order (byte
//	              order, as the plan's warning lists them), the first as a canary: new
//	              secret files, then reload_signal or a restart; each runs on it before the
//	              next moves. After the last, the pending secret becomes current and the
//	              previous one is revoked, in the same transaction
//	-> done
//	rolling_back  an app did not become healthy on it (or overlap_period would run out):
//	              every app moved goes back to the current secret, and once each runs on
//	              it (or is past its start_timeout), the pending secret is revoked
//	-> rolled_back
//
// An App Host that goes offline mid-way holds the rotation, both secrets
// valid, until it comes back or is forgotten: an app is never left holding
// a revoked secret that its host could not replace. The pending secret is
// never one of the account's previous secrets: an app that still presents
// it after a rollback fails its login without counting toward the lockout.

// overlapFallback says why an account whose rotation_strategy is overlap
// rotates stop_first this time ("" : it does not).
func overlapFallback(acc store.AccountRow) string {
	switch {
	case strategyOf(acc) != backend.StrategyOverlap:
		return ""
	case acc.Locked:
		return "the account is locked, so its current secret logs in no more: there is nothing to overlap with"
	case acc.Admin || acc.SealedSecret == nil:
		return "the backend holds no sealed copy of its current secret, to give the apps back if the rotation rolls back"
	}
	return ""
}

// issuePending is the issuing step: a pending secret, valid beside the
// current one until the rotation ends.
func (o *op) issuePending(r *store.RotationRow) error {
	row, err := o.getAccount(r.AccountID)
	if err != nil {
		return err
	}
	secret, hash := newSecret()
	row.PendingSecretHash, row.PendingSealedSecret, row.UpdatedAt = hash, o.s.box.Seal([]byte(secret)), o.now
	if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
		return err
	}
	r.OverlapUntil = o.now.Add(overlapPeriodOf(row))
	return o.advance(r, backend.RotationMoving, fmt.Sprintf("issued a pending secret (secret_version=%d) beside the "+
		"current one (secret_version=%d); the apps move to it one at a time, by %s (overlap_period %s)",
		pendingVersion(row), row.SecretVersion, r.OverlapUntil.Format(time.RFC3339), overlapPeriodOf(row)))
}

// moveRotationApps is the moving step: it waits for the app on its way to
// the pending secret, then moves the next one; after the last it makes the
// pending secret current.
func (o *op) moveRotationApps(r *store.RotationRow) (time.Time, error) {
	acc, err := o.getAccount(r.AccountID)
	if err != nil {
		return time.Time{}, err
	}
	if strings.HasPrefix(r.Error, "held:") {
		r.Error = "" // set again below if an App Host is still offline
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Phase != backend.StepMoving {
			continue
		}
		app, ok, err := o.stepApp(st)
		if err != nil || !ok {
			return time.Time{}, err
		}
		wake, err := o.checkMove(r, st, &app, acc)
		if err != nil || !wake.IsZero() || r.State != backend.RotationMoving {
			return wake, err
		}
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Phase != backend.StepHeld {
			continue
		}
		app, ok, err := o.stepApp(st)
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			continue
		}
		moved, wake, err := o.moveNext(r, st, &app, acc)
		if err != nil || !wake.IsZero() {
			return wake, err
		}
		if !moved {
			continue
		}
		if r.State != backend.RotationMoving || st.Phase == backend.StepMoving {
			return time.Time{}, nil // one app per step: the next call waits for it
		}
		break // moved at once (the built-in App Host)
	}
	for _, st := range r.Steps {
		if st.Phase == backend.StepHeld || st.Phase == backend.StepMoving {
			return time.Time{}, nil
		}
	}
	return time.Time{}, o.promote(r)
}

// checkMove looks at the app on its way to the pending secret: moved (zero
// wake), failed (the rotation rolls back), or not yet (when to look again).
func (o *op) checkMove(r *store.RotationRow, st *store.RotationStepRow, app *store.AppRow, acc store.AccountRow) (time.Time, error) {
	h, err := o.hostOf(app.AppHost)
	if err != nil {
		return time.Time{}, err
	}
	switch {
	case h.has && h.row.Forgotten:
		st.Phase, st.Detail = backend.StepSkipped, fmt.Sprintf("its App Host %q was declared lost: it gets the secret "+
			"the rotation leaves when it comes back", app.AppHost)
		return time.Time{}, nil
	case h.real && !o.online(h):
		return o.hold(r, st, h)
	}
	if at, ok, err := o.runsOn(*app, acc, st.Started, h); err != nil || ok {
		if err != nil {
			return time.Time{}, err
		}
		return time.Time{}, o.moved(r, st, app, at, h.real)
	}
	if app.Status == backend.StatusFailed || o.now.After(st.Deadline) {
		st.Phase, st.Detail = backend.StepFailed, app.StatusDetail
		if app.Status != backend.StatusFailed || st.Detail == "" {
			st.Detail = fmt.Sprintf("not healthy on the pending secret within start_timeout (%s): %s", app.StartTimeout,
				cmp.Or(app.StatusDetail, "status "+app.Status))
		}
		r.Error = fmt.Sprintf("app %q did not become healthy on the pending secret (secret_version=%d): %s. Every app "+
			"moved went back to the current secret and the pending one was revoked: the key is as it was (secret_version=%d)",
			app.Name, pendingVersion(acc), st.Detail, acc.SecretVersion)
		return time.Time{}, o.advance(r, backend.RotationRollingBack, fmt.Sprintf("app %s failed: %s", app.Name, st.Detail))
	}
	st.Detail = ""
	return st.Deadline, nil
}

// hold keeps the rotation where it is while st's App Host is offline: both
// secrets stay valid. The step says so (the console and the plan show it),
// audited once.
func (o *op) hold(r *store.RotationRow, st *store.RotationStepRow, h hostKind) (time.Time, error) {
	detail := fmt.Sprintf("held: App Host %q is offline (last report %s); both secrets stay valid until it comes back, "+
		"or is declared lost (terraform-provider-apphost app-hosts forget %s)", st.AppHost,
		h.row.LastReport.UTC().Format(time.RFC3339), st.AppHost)
	if r.State == backend.RotationMoving {
		// Flagged on the rotation too, while it moves (a rollback's error
		// says why it rolls back, and stays).
		r.Error = detail
	}
	if st.Detail != detail {
		st.Detail = detail
		if err := o.audit(backend.ActionRotationStep, backend.TargetRotation, r.ID, r.AccountName,
			fmt.Sprintf("state=%s: app %s %s", r.State, st.AppName, detail)); err != nil {
			return time.Time{}, err
		}
	}
	return o.now.Add(o.s.offlineAfter), nil
}

// runsOn reports whether app runs on the secrets it holds for acc, proven
// since since: healthy after its App Host applied its last change, and, if
// it proves who it is, logged in with each of them since then. It returns
// when it proved it.
func (o *op) runsOn(app store.AppRow, acc store.AccountRow, since time.Time, h hostKind) (time.Time, bool, error) {
	if !h.real {
		return o.now, app.Status == backend.StatusRunning, nil
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return time.Time{}, false, err
	}
	if app.Observed.Generation < app.Generation || !o.healthy(app, secrets) {
		return time.Time{}, false, nil
	}
	if app.Observed.ProvenLoginAt.IsZero() {
		return o.now, true, nil // it says nothing: up long enough
	}
	at := since
	for _, sec := range secrets {
		if sec.AccountID != acc.ID || sec.Ciphertext == nil {
			continue
		}
		if sec.LoginAt.Before(since) || sec.LoginVersion != wantVersion(sec, acc) {
			return time.Time{}, false, nil
		}
		at = later(at, sec.LoginAt)
	}
	return at, true, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// moved records that the app on its way runs on the pending secret: an
// app.reload event when its process kept running (reload_signal, or the
// built-in App Host), an app.deploy with its downtime when a real App Host
// restarted it.
func (o *op) moved(r *store.RotationRow, st *store.RotationStepRow, app *store.AppRow, at time.Time, realHost bool) error {
	st.Phase, st.Running, st.Detail = backend.StepMoved, at, ""
	action := backend.ActionAppReload
	detail := fmt.Sprintf("app_host=%s, api_key_account=%s, secret_version=%d (pending)", app.AppHost, r.AccountName, r.FromVersion+1)
	if realHost && restarted(*app, st.Started) {
		st.Stopped, action = st.Started, backend.ActionAppDeploy
		detail += fmt.Sprintf(", version=%s, pid=%d, restarted, downtime_ms=%.3f", app.Version, app.Observed.PID,
			float64(at.Sub(st.Stopped))/float64(time.Millisecond))
	} else if app.ReloadSignal != "" {
		detail += ", reload_signal=" + app.ReloadSignal
	}
	return o.auditAs(app.AppHost, action, backend.TargetApp, app.ID, app.Name, detail)
}

// restarted: the app runs a process started after since (a real App
// Host's), so it was down for its restart.
func restarted(app store.AppRow, since time.Time) bool {
	return app.ReloadSignal == "" || !app.Observed.StartedAt.Before(since)
}

// moveNext moves the held app st to the pending secret, or skips it (not
// running: it gets the secret the rotation leaves), or holds the rotation
// (its App Host is offline), or rolls the rotation back (overlap_period
// would run out first). moved is false when it skipped the app.
func (o *op) moveNext(r *store.RotationRow, st *store.RotationStepRow, app *store.AppRow, acc store.AccountRow) (bool, time.Time, error) {
	h, err := o.hostOf(app.AppHost)
	if err != nil {
		return false, time.Time{}, err
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return false, time.Time{}, err
	}
	switch {
	case !shouldRun(*app, secrets) || app.Status == backend.StatusPending || app.Status == backend.StatusStopped:
		st.Phase, st.Detail = backend.StepSkipped, "not running: it gets the secret the rotation leaves"
		return false, time.Time{}, o.keepStopped(st, app, h)
	case h.real && (!h.known() || h.row.Forgotten):
		st.Phase, st.Detail = backend.StepSkipped, fmt.Sprintf("its App Host %q runs nothing of it now: it gets the "+
			"secret the rotation leaves", app.AppHost)
		return false, time.Time{}, o.keepStopped(st, app, h)
	case h.real && !o.online(h):
		wake, err := o.hold(r, st, h)
		return true, wake, err
	case o.now.Add(app.StartTimeout).After(r.OverlapUntil):
		r.Error = fmt.Sprintf("overlap_period would run out before app %q could be moved to the pending secret (it may "+
			"take its start_timeout, %s, and the move must end by %s). Every app moved went back to the current secret "+
			"and the pending one was revoked: the key is as it was (secret_version=%d). Set a longer overlap_period, "+
			"then apply again", app.Name, app.StartTimeout, r.OverlapUntil.UTC().Format(time.RFC3339), acc.SecretVersion)
		return true, time.Time{}, o.advance(r, backend.RotationRollingBack, "overlap_period would run out before app "+app.Name+" could move")
	}
	canary := true
	for _, x := range r.Steps {
		if x.Phase == backend.StepMoved || x.Phase == backend.StepMoving {
			canary = false
		}
	}
	if err := o.giveSecret(app, acc, true); err != nil {
		return false, time.Time{}, err
	}
	st.Phase, st.Started, st.Detail = backend.StepMoving, o.now, ""
	st.Deadline = o.now.Add(app.StartTimeout)
	how := "a restart"
	if app.ReloadSignal != "" {
		how = "reload_signal " + app.ReloadSignal
	}
	role := ""
	if canary {
		role = " (the canary)"
	}
	if err := o.audit(backend.ActionRotationStep, backend.TargetRotation, r.ID, r.AccountName, fmt.Sprintf(
		"state=moving: app %s%s on App Host %s gets the pending secret: new secret files, then %s", app.Name, role, app.AppHost, how)); err != nil {
		return false, time.Time{}, err
	}
	if h.real {
		return true, time.Time{}, o.reloadApp(app)
	}
	// The built-in App Host: the app logs in with it, in this transaction.
	ok, err := o.reloadBuiltIn(app)
	if err != nil {
		return false, time.Time{}, err
	}
	if ok {
		return true, time.Time{}, o.moved(r, st, app, o.now, false)
	}
	_, err = o.checkMove(r, st, app, acc)
	return true, time.Time{}, err
}

// keepStopped keeps an app of a real App Host that the rotation skipped
// from starting until the rotation ends (its App Host may connect
// meanwhile): it would start on the current secret, which the rotation may
// revoke under it. startSkipped starts it then, on the secret the rotation
// leaves.
func (o *op) keepStopped(st *store.RotationStepRow, app *store.AppRow, h hostKind) error {
	if !h.real || !app.Deployed || app.Paused {
		return nil
	}
	app.Paused, app.UpdatedAt, st.KeptStopped = true, o.now, true
	return o.tx.UpdateApp(o.ctx, *app)
}

// startSkipped deploys again, at the rotation's end, the apps keepStopped
// kept from starting.
func (o *op) startSkipped(r *store.RotationRow) error {
	return o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		if !st.KeptStopped || !app.Paused {
			return nil
		}
		st.KeptStopped = false
		return o.resume(app, time.Time{})
	}, backend.StepSkipped)
}

// giveSecret seals into app's secrets bound to acc its pending secret
// (pending), or its current one again.
func (o *op) giveSecret(app *store.AppRow, acc store.AccountRow, pending bool) error {
	sealed, version, what := acc.SealedSecret, int64(0), fmt.Sprintf("current secret_version=%d again (rolled back)", acc.SecretVersion)
	if pending {
		sealed, version, what = acc.PendingSealedSecret, pendingVersion(acc), fmt.Sprintf("pending secret_version=%d", pendingVersion(acc))
	}
	plain, err := o.s.box.Open(sealed)
	if err != nil {
		return &backend.Error{Code: backend.CodeKeyFile, Message: fmt.Sprintf("cannot decrypt the secret of API key account %q", acc.Name), Err: err}
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	for _, sec := range secrets {
		if sec.AccountID != acc.ID || sec.Ciphertext == nil || sec.PendingVersion == version {
			continue
		}
		sec.Ciphertext, sec.PendingVersion, sec.UpdatedAt = o.s.box.Seal(plain), version, o.now
		if err := o.tx.PutAppSecret(o.ctx, sec); err != nil {
			return err
		}
		id, name := secretTarget(sec.AppID, sec.AppName, sec.Name)
		if err := o.audit(backend.ActionAppSecretPut, backend.TargetAppSecret, id, name,
			fmt.Sprintf("api_key_account=%s, sealed the %s (overlap rotation)", acc.Name, what)); err != nil {
			return err
		}
	}
	return nil
}

// reloadApp has app's App Host give it its new secrets: its generation
// grows, and the change is a reload (new secret files, then reload_signal
// to the running process, or a restart).
func (o *op) reloadApp(app *store.AppRow) error {
	if err := o.touch(app); err != nil {
		return err
	}
	app.Reload, app.UpdatedAt = true, o.now
	if err := o.tx.UpdateApp(o.ctx, *app); err != nil {
		return err
	}
	h, err := o.hostOf(app.AppHost)
	if err != nil {
		return err
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	return o.evalStatus(app, secrets, h)
}

// reloadBuiltIn reloads an app of the built-in App Host: it logs in with
// its secrets as they are now. It reports whether every login succeeded.
func (o *op) reloadBuiltIn(app *store.AppRow) (bool, error) {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return false, err
	}
	status, err := o.runApp(*app, secrets)
	if err != nil {
		return false, err
	}
	app.Status, app.StatusDetail, app.UpdatedAt = status, "", o.now
	if status == backend.StatusFailed {
		app.StatusDetail = "a login with its secrets failed"
	}
	return status == backend.StatusRunning, o.tx.UpdateApp(o.ctx, *app)
}

// promote makes the pending secret current once every app runs on it: the
// previous one is revoked at once (kept only as a previous secret, whose
// stale copies count toward the lockout), the secret is sealed into the
// bound app secrets that do not hold it yet, and the rotation ends done.
func (o *op) promote(r *store.RotationRow) error {
	row, err := o.getAccount(r.AccountID)
	if err != nil {
		return err
	}
	plain, err := o.s.box.Open(row.PendingSealedSecret)
	if err != nil {
		return &backend.Error{Code: backend.CodeKeyFile, Message: fmt.Sprintf("cannot decrypt the pending secret of API key account %q", row.Name), Err: err}
	}
	if r.ExposeSecret != nil {
		row.ExposeSecret = *r.ExposeSecret
	}
	rememberPrevious(&row, o.now)
	row.SecretHash, row.SecretVersion, row.SecretCreatedAt = row.PendingSecretHash, row.SecretVersion+1, o.now
	row.Locked, row.FailedLoginAttempts, row.UpdatedAt = false, 0, o.now
	if !row.Admin {
		row.SealedSecret = row.PendingSealedSecret
	}
	row.PendingSecretHash, row.PendingSealedSecret = nil, nil
	if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
		return err
	}
	detail := fmt.Sprintf("secret_version=%d, apps=%d, strategy=overlap", row.SecretVersion, len(r.Steps))
	if !row.ExposeSecret {
		detail += ", expose_secret=false"
	}
	if err := o.audit(backend.ActionAccountRegenerate, backend.TargetAccount, row.ID, row.Name, detail); err != nil {
		return err
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AccountID: row.ID})
	if err != nil {
		return err
	}
	for _, sec := range secrets {
		if sec.PendingVersion == row.SecretVersion {
			sec.PendingVersion = 0 // it holds the secret that is now current
			if err := o.tx.PutAppSecret(o.ctx, sec); err != nil {
				return err
			}
			continue
		}
		sec.Ciphertext, sec.PendingVersion, sec.UpdatedAt = o.s.box.Seal(plain), 0, o.now
		if err := o.tx.PutAppSecret(o.ctx, sec); err != nil {
			return err
		}
		id, name := secretTarget(sec.AppID, sec.AppName, sec.Name)
		if err := o.audit(backend.ActionAppSecretPut, backend.TargetAppSecret, id, name,
			fmt.Sprintf("api_key_account=%s, sealed by rotation to secret_version=%d", row.Name, row.SecretVersion)); err != nil {
			return err
		}
	}
	r.ToVersion, r.AccountName = row.SecretVersion, row.Name
	if row.ExposeSecret {
		r.SealedResult = o.s.box.Seal(plain)
	}
	if err := o.advance(r, backend.RotationMoving, fmt.Sprintf("every app runs on the pending secret: it is "+
		"current (secret_version=%d), and the previous one is revoked", row.SecretVersion)); err != nil {
		return err
	}
	if err := o.startSkipped(r); err != nil {
		return err
	}
	if err := o.releaseHolds(r); err != nil {
		return err
	}
	return o.endRotation(r, backend.RotationDone)
}

// rollBackRotation is the rolling_back step: every app given the pending
// secret gets the current one back; once each runs on it (or is past its
// start_timeout: its files hold the current secret either way), the
// pending secret is revoked and the rotation ends rolled back.
func (o *op) rollBackRotation(r *store.RotationRow) (time.Time, error) {
	acc, err := o.getAccount(r.AccountID)
	if err != nil {
		return time.Time{}, err
	}
	back := 0
	err = o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		back++
		st.Phase, st.Back, st.Deadline = backend.StepRestoring, o.now, o.now.Add(app.StartTimeout)
		if err := o.giveSecret(app, acc, false); err != nil {
			return err
		}
		h, err := o.hostOf(app.AppHost)
		switch {
		case err != nil:
			return err
		case !h.real:
			_, err := o.reloadBuiltIn(app)
			st.Phase = backend.StepRestored
			return err
		case h.has && h.row.Forgotten:
			st.Phase = backend.StepRestored
			return nil
		}
		return o.reloadApp(app)
	}, backend.StepMoving, backend.StepMoved, backend.StepFailed)
	if err != nil {
		return time.Time{}, err
	}
	if back > 0 {
		// A step of its own; the next waits for the apps.
		return time.Time{}, o.audit(backend.ActionRotationStep, backend.TargetRotation, r.ID, r.AccountName, fmt.Sprintf(
			"state=rolling_back: gave %d apps the current secret (secret_version=%d) back", back, acc.SecretVersion))
	}
	var wake time.Time
	err = o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		h, err := o.hostOf(app.AppHost)
		if err != nil {
			return err
		}
		if h.has && h.row.Forgotten {
			st.Phase = backend.StepRestored
			return nil
		}
		if h.real && !o.online(h) {
			at, err := o.hold(r, st, h)
			wake = earliest(wake, at)
			return err
		}
		at, ok, err := o.runsOn(*app, acc, st.Back, h)
		switch {
		case err != nil:
			return err
		case ok:
			st.Phase = backend.StepRestored
			if strings.HasPrefix(st.Detail, "held:") {
				st.Detail = ""
			}
			action, down := backAction(*app, st.Back, at, h.real)
			return o.auditAs(app.AppHost, action, backend.TargetApp, app.ID, app.Name, fmt.Sprintf(
				"app_host=%s, api_key_account=%s, secret_version=%d (back from the pending secret, rolled back)%s",
				app.AppHost, r.AccountName, acc.SecretVersion, down))
		case app.Status == backend.StatusFailed || o.now.After(st.Deadline):
			st.Phase = backend.StepRestored
			st.Detail = fmt.Sprintf("given the current secret back, but not healthy on it within start_timeout (%s): %s",
				app.StartTimeout, cmp.Or(app.StatusDetail, "status "+app.Status))
			return nil
		}
		wake = earliest(wake, st.Deadline)
		return nil
	}, backend.StepRestoring)
	if err != nil || !wake.IsZero() {
		return wake, err
	}
	// Revoke: no app holds the pending secret any more.
	if err := o.revokePending(r, acc); err != nil {
		return time.Time{}, err
	}
	if err := o.startSkipped(r); err != nil {
		return time.Time{}, err
	}
	if err := o.releaseHolds(r); err != nil {
		return time.Time{}, err
	}
	return time.Time{}, o.endRotation(r, backend.RotationRolledBack)
}

// backAction is the event of an app back on the current secret since
// since and running again at at: app.deploy with its downtime for an app
// a real App Host restarted, app.reload for one that never stopped.
func backAction(app store.AppRow, since, at time.Time, realHost bool) (string, string) {
	if !realHost || !restarted(app, since) {
		return backend.ActionAppReload, ""
	}
	return backend.ActionAppDeploy, fmt.Sprintf(", version=%s, pid=%d, restarted, downtime_ms=%.3f", app.Version,
		app.Observed.PID, float64(at.Sub(since))/float64(time.Millisecond))
}

// revokePending drops the account's pending secret (after sealing the
// current one back into any app secret that still held it).
func (o *op) revokePending(r *store.RotationRow, acc store.AccountRow) error {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AccountID: acc.ID})
	if err != nil {
		return err
	}
	for _, sec := range secrets {
		if sec.PendingVersion == 0 {
			continue
		}
		app, err := o.tx.GetApp(o.ctx, sec.AppID)
		if err != nil {
			return err
		}
		if err := o.giveSecret(&app, acc, false); err != nil {
			return err
		}
	}
	version := pendingVersion(acc)
	acc.PendingSecretHash, acc.PendingSealedSecret, acc.UpdatedAt = nil, nil, o.now
	if err := o.tx.UpdateAccount(o.ctx, acc); err != nil {
		return err
	}
	return o.advance(r, backend.RotationRollingBack, fmt.Sprintf("revoked the pending secret (secret_version=%d); "+
		"the current one (secret_version=%d) is unchanged", version, acc.SecretVersion))
}
