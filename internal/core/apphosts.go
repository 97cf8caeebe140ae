package core

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// Real App Hosts. An app_host name that an App Host account claims is a
// real App Host: a process elsewhere that reads its desired state (which
// apps run, with which spec and secrets), runs them, and reports what runs.
// Here, deploying or stopping an app only changes its desired state (its
// generation grows, and its host's revision); its status follows from the
// host's reports and the app's own logins. Any other name is served by the
// built-in App Host (runtime.go), which acts inside the caller's transaction.

// Defaults of the App Host protocol's timing.
const (
	// DefaultAppHostOfflineAfter is how long without a report makes a host offline.
	DefaultAppHostOfflineAfter = 15 * time.Second
	// healthyUptime: an app that never proves who it is counts as healthy
	// once its process has stayed up this long.
	healthyUptime = 3 * time.Second
	// stopGrace is what a stop may take beyond the app's stop_timeout (the
	// SIGKILL, and the report that confirms it).
	stopGrace = 5 * time.Second
)

// reportInterval is how often a host reports when nothing changes: a third
// of the offline delay, so two reports may go missing before it is offline.
func (s *Service) reportInterval() time.Duration { return max(s.offlineAfter/3, 100*time.Millisecond) }

// hostKind says how an app_host name runs its apps.
type hostKind struct {
	real bool
	row  store.AppHostRow // zero when the name has no row yet
	has  bool             // row is set
}

// known: a real host that has connected at least once.
func (h hostKind) known() bool { return h.real && h.has && !h.row.ConnectedAt.IsZero() }

// online: a real host that reported within the offline delay.
func (o *op) online(h hostKind) bool {
	return h.known() && !h.row.Forgotten && o.now.Sub(h.row.LastReport) < o.s.offlineAfter
}

// hostOf returns how the App Host name runs apps, cached for the operation.
func (o *op) hostOf(name string) (hostKind, error) {
	if h, ok := o.hosts[name]; ok {
		return h, nil
	}
	var h hostKind
	_, err := o.tx.GetAccountByAppHost(o.ctx, name)
	switch {
	case err == nil:
		h.real = true
		h.row, err = o.tx.GetAppHost(o.ctx, name)
		switch {
		case err == nil:
			h.has = true
		case !errors.Is(err, store.ErrNotFound):
			return h, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return h, err
	}
	if o.hosts == nil {
		o.hosts = map[string]hostKind{}
	}
	o.hosts[name] = h
	return h, nil
}

// touch records a change of what app's App Host must run: the app's
// generation and its host's revision grow.
func (o *op) touch(app *store.AppRow) error {
	app.Generation++
	app.Reload = false // a reload is the caller's to say (reloadApp)
	h, err := o.hostOf(app.AppHost)
	if err != nil || !h.real {
		return err
	}
	if !h.has {
		h.row = store.AppHostRow{Name: app.AppHost}
		h.has = true
	}
	h.row.Revision++
	o.hosts[app.AppHost] = h
	return o.tx.PutAppHost(o.ctx, h.row)
}

// bumpHost makes host's desired state newer without changing an app (a
// rotation's hold, which its host must acknowledge) and returns the revision.
func (o *op) bumpHost(name string) (int64, error) {
	h, err := o.hostOf(name)
	if err != nil || !h.real {
		return 0, err
	}
	if !h.has {
		h.row = store.AppHostRow{Name: name}
		h.has = true
	}
	h.row.Revision++
	o.hosts[name] = h
	return h.row.Revision, o.tx.PutAppHost(o.ctx, h.row)
}

// shouldRun reports whether an app is meant to run now: deployed, not
// paused for a secret change, with every secret it needs.
func shouldRun(app store.AppRow, secrets []store.AppSecretRow) bool {
	return app.Deployed && !app.Paused && missingSecret(app, secrets) == ""
}

// evalStatus sets the status of an app on a real App Host from what the host
// reported and the app's logins, and audits a change: app.deploy (with the
// downtime since it was paused) when it becomes healthy, app.status when it
// fails or waits. An app that its host has not confirmed stopped yet is
// "running" too, and no deploy; nor is a running app whose detail changed
// (its host went offline and came back).
func (o *op) evalStatus(app *store.AppRow, secrets []store.AppSecretRow, h hostKind) error {
	status, detail := o.realStatus(*app, secrets, h)
	if status == app.Status && detail == app.StatusDetail {
		return nil
	}
	prev := app.Status
	app.Status, app.StatusDetail, app.UpdatedAt = status, detail, o.now
	healthy := status == backend.StatusRunning && shouldRun(*app, secrets)
	switch {
	case healthy && app.Reload:
		// Moved by an overlap rotation, which audits the app.reload once
		// it has checked the app's logins.
	case healthy && (prev != backend.StatusRunning || !app.PausedAt.IsZero()):
		d := fmt.Sprintf("app_host=%s, version=%s, pid=%d", app.AppHost, app.Version, app.Observed.PID)
		if !app.PausedAt.IsZero() {
			at := o.healthyAt(*app, secrets)
			d += fmt.Sprintf(", downtime_ms=%.3f", float64(at.Sub(app.PausedAt))/float64(time.Millisecond))
			app.PausedAt = time.Time{}
		}
		if err := o.auditAs(app.AppHost, backend.ActionAppDeploy, backend.TargetApp, app.ID, app.Name, d); err != nil {
			return err
		}
	case status == backend.StatusFailed, status == backend.StatusPending,
		status == backend.StatusStopped && prev != backend.StatusStopped:
		d := status
		if detail != "" {
			d += ": " + detail
		}
		if err := o.auditAs(app.AppHost, backend.ActionAppStatus, backend.TargetApp, app.ID, app.Name, d); err != nil {
			return err
		}
	}
	return o.tx.UpdateApp(o.ctx, *app)
}

// realStatus is what evalStatus decides.
func (o *op) realStatus(app store.AppRow, secrets []store.AppSecretRow, h hostKind) (string, string) {
	obs := app.Observed
	if !shouldRun(app, secrets) {
		if missing := missingSecret(app, secrets); app.Deployed && !app.Paused && missing != "" {
			return backend.StatusPending, fmt.Sprintf("waiting for app secret %q (in secret_names)", missing)
		}
		if obs.Phase == hostapi.PhaseRunning || obs.Phase == hostapi.PhaseStarting {
			return backend.StatusRunning, "stopping: its App Host has not confirmed the stop yet"
		}
		return backend.StatusStopped, ""
	}
	if !h.known() {
		return backend.StatusPending, fmt.Sprintf("waiting for App Host %q to connect", app.AppHost)
	}
	offline := ""
	if !o.online(h) {
		offline = fmt.Sprintf(" (App Host %q is offline: last report %s)", app.AppHost, h.row.LastReport.Format(time.RFC3339))
	}
	if obs.Generation < app.Generation {
		if app.Reload && obs.Phase == hostapi.PhaseRunning {
			return backend.StatusRunning, "reloading: its App Host has not given it its new secrets yet" + offline
		}
		return backend.StatusStarting, "its App Host has not applied the change yet" + offline
	}
	switch obs.Phase {
	case hostapi.PhaseFailed:
		return backend.StatusFailed, exitDetail(obs)
	case hostapi.PhaseRunning:
		if o.healthy(app, secrets) {
			return backend.StatusRunning, offline
		}
		if o.now.Sub(since(obs)) > app.StartTimeout {
			return backend.StatusFailed, fmt.Sprintf("not healthy within start_timeout (%s): %s", app.StartTimeout, o.unhealthyWhy(app, secrets))
		}
		if reloaded(obs) {
			// Its process never stopped: it runs, on the secret it had,
			// until it logs in with the one it was reloaded with.
			return backend.StatusRunning, "reloading: " + o.unhealthyWhy(app, secrets) + offline
		}
		return backend.StatusStarting, o.unhealthyWhy(app, secrets) + offline
	case hostapi.PhaseExited:
		return backend.StatusStarting, exitDetail(obs) + "; restarting" + offline
	case hostapi.PhaseStopped:
		if obs.Generation >= app.Generation && !obs.ReportedAt.IsZero() {
			// Applied, yet stopped: its App Host stopped it on its way out.
			return backend.StatusPending, fmt.Sprintf("its App Host %q stopped it (shutting down or restarting); it "+
				"starts again when the App Host runs again", app.AppHost) + offline
		}
	}
	return backend.StatusStarting, "starting" + offline
}

func exitDetail(obs store.AppObserved) string {
	d := fmt.Sprintf("exited with code %d", obs.ExitCode)
	if obs.Restarts > 0 {
		d += fmt.Sprintf(" after %d restarts", obs.Restarts)
	}
	if obs.Detail != "" {
		d += " (" + obs.Detail + ")"
	}
	if tail := strings.TrimSpace(obs.StderrTail); tail != "" {
		d += "; last stderr: " + tail
	}
	return d
}

// since is when the app's current process started, or was last reloaded:
// its health counts the logins after it.
func since(obs store.AppObserved) time.Time {
	if reloaded(obs) {
		return obs.ReloadedAt
	}
	return obs.StartedAt
}

// reloaded: the current process was sent its reload signal since it started.
func reloaded(obs store.AppObserved) bool { return obs.ReloadedAt.After(obs.StartedAt) }

// wantVersion is the secret_version a bound secret's app must log in with:
// the pending one while the secret holds it (an overlap rotation moved the
// app), else the account's current one.
func wantVersion(sec store.AppSecretRow, acc store.AccountRow) int64 {
	if sec.PendingVersion != 0 {
		return sec.PendingVersion
	}
	return acc.SecretVersion
}

// healthy: the app's process is up and, for each bound secret, the app
// proved a login with the secret it holds (see wantVersion) since it started
// or was reloaded. An app that never proves who it is counts as healthy once
// up healthyUptime.
func (o *op) healthy(app store.AppRow, secrets []store.AppSecretRow) bool {
	obs := app.Observed
	if obs.Phase != hostapi.PhaseRunning {
		return false
	}
	if obs.ProvenLoginAt.IsZero() {
		// An app that proves who it is must do so again; one that says
		// nothing is healthy once up long enough.
		return !obs.Proves && o.now.Sub(since(obs)) >= healthyUptime
	}
	for _, sec := range secrets {
		if sec.AccountID == "" || sec.Ciphertext == nil {
			continue
		}
		acc, err := o.tx.GetAccount(o.ctx, sec.AccountID)
		if err != nil || sec.LoginAt.Before(since(obs)) || sec.LoginVersion != wantVersion(sec, acc) {
			return false
		}
	}
	return true
}

// healthyAt is when the app became healthy: its last bound login, or the
// report that made it so.
func (o *op) healthyAt(app store.AppRow, secrets []store.AppSecretRow) time.Time {
	var at time.Time
	for _, sec := range secrets {
		if sec.AccountID != "" && sec.LoginAt.After(at) {
			at = sec.LoginAt
		}
	}
	if at.IsZero() || at.Before(app.Observed.StartedAt) {
		return o.clock()
	}
	return at
}

func (o *op) unhealthyWhy(app store.AppRow, secrets []store.AppSecretRow) string {
	for _, sec := range secrets {
		if sec.AccountID == "" || sec.Ciphertext == nil {
			continue
		}
		acc, err := o.tx.GetAccount(o.ctx, sec.AccountID)
		if err != nil {
			continue
		}
		if want := wantVersion(sec, acc); sec.LoginAt.Before(since(app.Observed)) || sec.LoginVersion != want {
			what := "started"
			if reloaded(app.Observed) {
				what = "was reloaded"
			}
			return fmt.Sprintf("no login yet as API key account %q with secret_version %d since it %s", acc.Name, want, what)
		}
	}
	return fmt.Sprintf("up less than %s", healthyUptime)
}

// OpenAppHostSession opens a session of the App Host name for instance:
// the same instance takes its name over at once (fencing its old session);
// another is refused while the first is online.
func (s *Service) OpenAppHostSession(ctx context.Context, name, address string, req hostapi.SessionRequest) (*hostapi.Session, error) {
	if err := validateText("instance_id", req.InstanceID, backend.MaxNameLength); err != nil || req.InstanceID == "" {
		return nil, backend.InvalidField("instance_id", "instance_id must be a non-empty text of at most %d characters", backend.MaxNameLength)
	}
	for _, f := range []struct{ name, v string }{{"version", req.Version}, {"driver", req.Driver}} {
		if err := validateText(f.name, f.v, backend.MaxNameLength); err != nil {
			return nil, err
		}
	}
	return writeValue(s, ctx, func(o *op) (*hostapi.Session, error) {
		h, err := o.hostOf(name)
		if err != nil {
			return nil, err
		}
		if !h.real {
			return nil, backend.Errorf(backend.CodeForbidden, "no App Host account claims %q", name)
		}
		row := h.row
		if !h.has {
			row = store.AppHostRow{Name: name}
		}
		if row.InstanceID != "" && row.InstanceID != req.InstanceID && o.online(h) {
			return nil, &backend.Error{Code: hostapi.CodeInUse, Message: fmt.Sprintf(
				"App Host %q is online as another instance (%s, last report %s): stop that one first, or, if its "+
					"machine is lost, declare it lost with app-hosts forget %s", name, row.InstanceID, row.LastReport.Format(time.RFC3339), name)}
		}
		reset := row.Forgotten || (row.InstanceID != "" && row.InstanceID != req.InstanceID)
		row.InstanceID, row.SessionID, row.Address = req.InstanceID, uuid.NewString(), address
		row.Version, row.Driver, row.Forgotten = req.Version, req.Driver, false
		row.ConnectedAt, row.LastReport, row.OfflineAt = o.now, o.now, time.Time{}
		row.Revision++
		if err := o.tx.PutAppHost(o.ctx, row); err != nil {
			return nil, err
		}
		o.hosts[name] = hostKind{real: true, row: row, has: true}
		detail := fmt.Sprintf("instance=%s, address=%s, driver=%s, version=%s", row.InstanceID, address, req.Driver, req.Version)
		if reset {
			detail += ", reset: stops its apps first"
		}
		if err := o.auditAs(name, backend.ActionAppHostConnect, backend.TargetAppHost, name, name, detail); err != nil {
			return nil, err
		}
		return &hostapi.Session{SessionID: row.SessionID, ReportIntervalMS: o.s.reportInterval().Milliseconds(),
			OfflineAfterMS: o.s.offlineAfter.Milliseconds(), Reset: reset}, nil
	})
}

// session returns the host's row if session is its current one.
func (o *op) session(name, session string) (hostKind, error) {
	h, err := o.hostOf(name)
	if err != nil {
		return h, err
	}
	if !h.real || !h.has || h.row.SessionID == "" ||
		subtle.ConstantTimeCompare([]byte(h.row.SessionID), []byte(session)) != 1 {
		return h, &backend.Error{Code: hostapi.CodeFenced, Message: fmt.Sprintf(
			"this session of App Host %q was replaced (by a newer session, or by app-hosts forget): open a new one", name)}
	}
	return h, nil
}

// AppHostDesired returns the desired state of the App Host's apps, waiting
// up to wait for a revision newer than after.
func (s *Service) AppHostDesired(ctx context.Context, name, session string, after int64, wait time.Duration) (*hostapi.Desired, error) {
	deadline := time.Now().Add(wait)
	for {
		token := s.changeToken(ctx)
		d, err := readValue(s, ctx, func(o *op) (*hostapi.Desired, error) {
			h, err := o.session(name, session)
			if err != nil {
				return nil, err
			}
			if h.row.Revision <= after && time.Now().Before(deadline) {
				return nil, nil // nothing new yet
			}
			return o.desired(h)
		})
		if err != nil || d != nil {
			return d, err
		}
		if err := s.waitChange(ctx, token, time.Until(deadline)); err != nil {
			return nil, mapError(err)
		}
	}
}

// desired is the host's desired state: its apps, whether each should run,
// and their secrets (the one answer that carries secrets, to their host).
func (o *op) desired(h hostKind) (*hostapi.Desired, error) {
	apps, err := o.tx.ListAppsOnHost(o.ctx, h.row.Name)
	if err != nil {
		return nil, err
	}
	byApp, err := o.secretsOf(apps)
	if err != nil {
		return nil, err
	}
	out := &hostapi.Desired{Revision: h.row.Revision, Apps: make([]hostapi.DesiredApp, 0, len(apps))}
	for _, a := range apps {
		d := hostapi.DesiredApp{ID: a.ID, Name: a.Name, Generation: a.Generation, Run: shouldRun(a, byApp[a.ID]),
			Command: a.Command, Config: a.Config, StopTimeoutMS: a.StopTimeout.Milliseconds(),
			StartTimeoutMS: a.StartTimeout.Milliseconds(), ReloadSignal: a.ReloadSignal, Reload: a.Reload}
		if d.Run {
			for _, sec := range byApp[a.ID] {
				if sec.Ciphertext == nil {
					continue
				}
				plain, err := o.s.box.Open(sec.Ciphertext)
				if err != nil {
					return nil, &backend.Error{Code: backend.CodeKeyFile, Message: fmt.Sprintf("cannot decrypt app secret %q of app %q", sec.Name, a.Name), Err: err}
				}
				d.Secrets = append(d.Secrets, hostapi.Secret{Name: sec.Name, Value: string(plain), AccountID: sec.AccountID})
			}
		}
		out.Apps = append(out.Apps, d)
	}
	return out, nil
}

// ReportAppHost records what the App Host runs and updates the status of
// its apps. It answers the desired state's current revision.
func (s *Service) ReportAppHost(ctx context.Context, name string, r hostapi.Report) (*hostapi.ReportAnswer, error) {
	return writeValue(s, ctx, func(o *op) (*hostapi.ReportAnswer, error) {
		h, err := o.session(name, r.SessionID)
		if err != nil {
			return nil, err
		}
		if !h.row.OfflineAt.IsZero() {
			if err := o.auditAs(name, backend.ActionAppHostConnect, backend.TargetAppHost, name, name, "back online"); err != nil {
				return nil, err
			}
		}
		h.row.LastReport, h.row.OfflineAt = o.now, time.Time{}
		h.row.AppliedRevision = max(h.row.AppliedRevision, min(r.Revision, h.row.Revision))
		if err := o.tx.PutAppHost(o.ctx, h.row); err != nil {
			return nil, err
		}
		o.hosts[name] = h
		reported := map[string]hostapi.AppReport{}
		for _, a := range r.Apps {
			reported[a.ID] = a
		}
		apps, err := o.tx.ListAppsOnHost(o.ctx, name)
		if err != nil {
			return nil, err
		}
		secrets, err := o.secretsOf(apps)
		if err != nil {
			return nil, err
		}
		for i := range apps {
			app := &apps[i]
			rep, ok := reported[app.ID]
			if !ok {
				rep = hostapi.AppReport{Phase: hostapi.PhaseStopped, Generation: app.Observed.Generation}
			}
			before := app.Observed
			o.observe(app, rep)
			// A host reports every app every few seconds: only what changed
			// is written, or a host of a thousand apps would rewrite them all.
			if !sameObservation(before, app.Observed) {
				if err := o.tx.UpdateApp(o.ctx, *app); err != nil {
					return nil, err
				}
			}
			if err := o.evalStatus(app, secrets[app.ID], h); err != nil {
				return nil, err
			}
		}
		return &hostapi.ReportAnswer{Revision: h.row.Revision}, nil
	})
}

// secretsOf returns the app secrets of apps, by app ID, in one query.
func (o *op) secretsOf(apps []store.AppRow) (map[string][]store.AppSecretRow, error) {
	byApp := map[string][]store.AppSecretRow{}
	if len(apps) == 0 {
		return byApp, nil
	}
	ids := make([]string, 0, len(apps))
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppIDs: ids})
	if err != nil {
		return nil, err
	}
	for _, sec := range secrets {
		byApp[sec.AppID] = append(byApp[sec.AppID], sec)
	}
	return byApp, nil
}

// sameObservation reports whether an observation tells nothing new of an
// app (the time of its report aside). The stored reported_at is thus the
// time of the last report that changed something.
func sameObservation(stored, now store.AppObserved) bool {
	if stored.ReportedAt.IsZero() {
		return false // the first report
	}
	stored.ReportedAt, now.ReportedAt = time.Time{}, time.Time{}
	a, errA := json.Marshal(stored) // every field, the ones added later too
	b, errB := json.Marshal(now)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// observe records one app's report. A new process (another token, or
// another start time than the one recorded) starts its health over. A
// process its host announced before it started (token, no start time yet)
// keeps the logins it made before the report of its start time; start
// times are compared at the precision the store keeps.
func (o *op) observe(app *store.AppRow, rep hostapi.AppReport) {
	obs := &app.Observed
	started := rep.StartedAt.UTC().Truncate(time.Microsecond)
	if rep.TokenHash != obs.TokenHash || (!obs.StartedAt.IsZero() && !started.Equal(obs.StartedAt)) {
		obs.ProvenLoginAt = time.Time{}
	}
	obs.Phase, obs.Generation, obs.PID = rep.Phase, rep.Generation, rep.PID
	obs.StartedAt, obs.ExitCode, obs.Restarts = started, rep.ExitCode, rep.Restarts
	obs.Detail, obs.StderrTail, obs.TokenHash = truncateText(rep.Detail, 512), truncateText(rep.StderrTail, 2048), rep.TokenHash
	obs.ReloadedAt = rep.ReloadedAt.UTC().Truncate(time.Microsecond)
	obs.ReportedAt = o.now
}

// truncateText keeps a reported text within limit bytes, on a rune boundary.
func truncateText(s string, limit int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "?")
	if len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8RuneStart(s[limit]) {
		limit--
	}
	return s[:limit] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// provenApp returns the app that a login with req's App and AppToken
// proves, or false.
func (o *op) provenApp(req backend.LoginRequest) (store.AppRow, bool, error) {
	if req.App == "" || req.AppToken == "" || !backend.CleanText(req.App) {
		return store.AppRow{}, false, nil
	}
	app, err := o.tx.GetAppByName(o.ctx, req.App)
	if errors.Is(err, store.ErrNotFound) {
		return app, false, nil
	}
	if err != nil {
		return app, false, err
	}
	want := app.Observed.TokenHash
	got := hostapi.TokenHash(req.AppToken)
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return app, false, nil
	}
	return app, true, nil
}

// recordAppLogin records an app's proven successful login as account with
// the secret of version: the login of each of its secrets bound to the
// account, and its health.
func (o *op) recordAppLogin(app store.AppRow, acc store.AccountRow, version int64) error {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	for i := range secrets {
		sec := &secrets[i]
		if sec.AccountID != acc.ID {
			continue
		}
		sec.LoginVersion, sec.LoginAt = version, o.now
		if err := o.tx.PutAppSecret(o.ctx, *sec); err != nil {
			return err
		}
	}
	if app.Observed.ProvenLoginAt.IsZero() {
		app.Observed.ProvenLoginAt, app.Observed.Proves = o.now, true
		if err := o.tx.UpdateApp(o.ctx, app); err != nil {
			return err
		}
	}
	h, err := o.hostOf(app.AppHost)
	if err != nil || !h.real {
		return err
	}
	return o.evalStatus(&app, secrets, h)
}

// ListAppHosts returns the real App Hosts (each App Host account's) and the
// built-in App Host of every other app_host that apps use.
func (s *Service) ListAppHosts(ctx context.Context) ([]backend.AppHost, error) {
	return readValue(s, ctx, func(o *op) ([]backend.AppHost, error) {
		accounts, err := o.tx.ListAccounts(o.ctx)
		if err != nil {
			return nil, err
		}
		apps, err := o.tx.ListApps(o.ctx)
		if err != nil {
			return nil, err
		}
		byHost := map[string][]string{}
		for _, a := range apps {
			byHost[a.AppHost] = append(byHost[a.AppHost], a.Name)
		}
		seen := map[string]bool{}
		out := []backend.AppHost{}
		for _, acc := range accounts {
			if acc.AppHost == "" {
				continue
			}
			h, err := o.hostOf(acc.AppHost)
			if err != nil {
				return nil, err
			}
			out = append(out, o.toAppHost(acc.AppHost, h, byHost[acc.AppHost]))
			seen[acc.AppHost] = true
		}
		for name, names := range byHost {
			if !seen[name] {
				out = append(out, backend.AppHost{Name: name, BuiltIn: true, State: backend.AppHostBuiltIn, Apps: names})
			}
		}
		slices.SortFunc(out, func(a, b backend.AppHost) int { return strings.Compare(a.Name, b.Name) })
		for i := range out {
			slices.Sort(out[i].Apps)
			if out[i].Apps == nil {
				out[i].Apps = []string{}
			}
		}
		return out, nil
	})
}

func (o *op) toAppHost(name string, h hostKind, apps []string) backend.AppHost {
	out := backend.AppHost{Name: name, State: backend.AppHostUnknown, Apps: apps, Forgotten: h.has && h.row.Forgotten}
	if !h.known() {
		return out
	}
	out.State = backend.AppHostOffline
	if o.online(h) {
		out.State = backend.AppHostOnline
	}
	out.Address, out.InstanceID, out.Version, out.Driver, out.Forgotten = h.row.Address, h.row.InstanceID, h.row.Version, h.row.Driver, h.row.Forgotten
	last := h.row.LastReport.UTC()
	out.LastReport = &last
	return out
}

// ForgetAppHost declares the App Host lost: its session is fenced, its apps
// count as stopped (a rotation no longer waits for it), and when it comes
// back it stops its apps before it starts anything.
func (s *Service) ForgetAppHost(ctx context.Context, name string) error {
	return s.write(ctx, func(o *op) error {
		h, err := o.hostOf(name)
		if err != nil {
			return err
		}
		if !h.real {
			return backend.Errorf(backend.CodeNotFound, "no App Host account claims %q: there is no real App Host of that name to forget", name)
		}
		row := h.row
		if !h.has {
			row = store.AppHostRow{Name: name}
		}
		row.Forgotten, row.SessionID = true, ""
		row.Revision++
		if err := o.tx.PutAppHost(o.ctx, row); err != nil {
			return err
		}
		h.row, h.has = row, true
		o.hosts[name] = h
		apps, err := o.tx.ListAppsOnHost(o.ctx, name)
		if err != nil {
			return err
		}
		for i := range apps {
			app := &apps[i]
			app.Observed = store.AppObserved{Phase: hostapi.PhaseStopped, Generation: app.Observed.Generation, ReportedAt: o.now,
				Proves: app.Observed.Proves}
			app.Status, app.StatusDetail = backend.StatusPending, fmt.Sprintf("App Host %q was declared lost (app-hosts forget); waiting for it to come back", name)
			if err := o.tx.UpdateApp(o.ctx, *app); err != nil {
				return err
			}
		}
		return o.audit(backend.ActionAppHostForget, backend.TargetAppHost, name, name, fmt.Sprintf("declared lost; %d apps", len(apps)))
	})
}

// SweepAppHosts records the App Hosts that stopped reporting as offline
// (one app_host.offline event each). Every server runs it now and then.
func (s *Service) SweepAppHosts(ctx context.Context) error {
	return s.write(ctx, func(o *op) error {
		rows, err := o.tx.ListAppHosts(o.ctx)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if row.ConnectedAt.IsZero() || row.Forgotten || !row.OfflineAt.IsZero() || o.now.Sub(row.LastReport) < o.s.offlineAfter {
				continue
			}
			row.OfflineAt = o.now
			if err := o.tx.PutAppHost(o.ctx, row); err != nil {
				return err
			}
			if err := o.auditAs(row.Name, backend.ActionAppHostOffline, backend.TargetAppHost, row.Name, row.Name,
				fmt.Sprintf("no report since %s", row.LastReport.Format(time.RFC3339Nano))); err != nil {
				return err
			}
		}
		return nil
	})
}
