package console

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

const timeFormat = "2006-01-02 15:04:05Z"

type keyRow struct {
	backend.Account
	Age     string
	Created string
	Old     bool
}

type keysData struct {
	Rows   []keyRow
	After  string
	Next   string
	MaxAge string
}

func (c *console) keys(w http.ResponseWriter, r *http.Request, v *view) {
	after := r.URL.Query().Get("after")
	accts, err := c.cfg.Source.AccountsPage(r.Context(), after, PageSize+1)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := keysData{After: after, MaxAge: age(c.cfg.SecretMaxAge)}
	if len(accts) > PageSize {
		accts = accts[:PageSize]
		d.Next = accts[len(accts)-1].Name
	}
	now := c.cfg.Now()
	for _, a := range accts {
		old := now.Sub(a.SecretCreatedAt)
		d.Rows = append(d.Rows, keyRow{Account: a, Age: age(old), Created: a.SecretCreatedAt.Format(timeFormat), Old: old > c.cfg.SecretMaxAge})
	}
	v.Title, v.Nav, v.Data = "API keys", "keys", d
	c.render(w, r, http.StatusOK, "keys", v)
}

// age is a duration the way a person reads it: 3d, 5h, 12m, 40s.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
}

type secretRow struct {
	backend.AppSecret
	AccountName string
}

type appRow struct {
	backend.App
	Secrets []secretRow
}

type appsData struct {
	Account *backend.Account
	Rows    []appRow
	After   string
	Next    string
}

func (c *console) apps(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := appsData{After: q.Get("after")}
	var apps []backend.App
	var err error
	if id := q.Get("account"); id != "" {
		// One account's apps: as many as are bound to it (a rotation's worth).
		d.Account, err = c.cfg.Source.GetAccount(r.Context(), id)
		if backend.CodeOf(err) == backend.CodeNotFound {
			v.Title, v.Data = "Not found", "There is no API key account with this ID."
			c.render(w, r, http.StatusNotFound, "error", v)
			return
		}
		if err == nil {
			apps, err = c.cfg.Source.ListApps(r.Context(), backend.ListAppsRequest{BoundToAccountID: id})
		}
		d.After = ""
	} else {
		apps, err = c.cfg.Source.AppsPage(r.Context(), d.After, PageSize+1)
		if len(apps) > PageSize {
			apps = apps[:PageSize]
			d.Next = apps[len(apps)-1].Name
		}
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var ids []string
	for _, a := range apps {
		for _, s := range a.Secrets {
			if s.AccountID != "" {
				ids = append(ids, s.AccountID)
			}
		}
	}
	names, err := c.cfg.Source.AccountNames(r.Context(), ids)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, a := range apps {
		row := appRow{App: a}
		for _, s := range a.Secrets {
			row.Secrets = append(row.Secrets, secretRow{AppSecret: s, AccountName: names[s.AccountID]})
		}
		d.Rows = append(d.Rows, row)
	}
	v.Title, v.Nav, v.Data = "Apps", "apps", d
	if d.Account != nil {
		v.Title = "Apps bound to " + d.Account.Name
	}
	c.render(w, r, http.StatusOK, "apps", v)
}

type eventRow struct {
	backend.AuditEvent
	Time string
	Link string // the target's ID to filter by, if it is an account or app
}

func toEventRow(e backend.AuditEvent) eventRow {
	row := eventRow{AuditEvent: e, Time: e.Time.Format(timeFormat)}
	switch e.TargetType {
	case backend.TargetAccount, backend.TargetApp:
		row.Link = e.TargetID
	case backend.TargetAppSecret:
		row.Link, _, _ = strings.Cut(e.TargetID, "/")
	}
	return row
}

type auditData struct {
	Target     string
	TargetName string
	Before     int64
	Next       int64
	Rows       []eventRow
	Error      string
}

func (c *console) audit(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := auditData{Target: strings.TrimSpace(q.Get("target"))}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			c.plainError(w, r, http.StatusBadRequest, "before must be an event number.")
			return
		}
		d.Before = n
	}
	v.Title, v.Nav = "Audit", "audit"
	targetID := ""
	if d.Target != "" {
		// An ID or a name, of an account or an app.
		if a, err := c.cfg.Source.GetAccount(r.Context(), d.Target); err == nil {
			targetID, d.TargetName = a.ID, "API key account "+a.Name
		} else if a, err := c.cfg.Source.GetApp(r.Context(), d.Target); err == nil {
			targetID, d.TargetName = a.ID, "app "+a.Name
		} else if a, err := c.cfg.Source.GetAccountByName(r.Context(), d.Target); err == nil {
			targetID, d.TargetName = a.ID, "API key account "+a.Name
		} else if a, err := c.cfg.Source.GetAppByName(r.Context(), d.Target); err == nil {
			targetID, d.TargetName = a.ID, "app "+a.Name
		} else {
			// A deleted account or app: its ID still filters its events.
			targetID, d.TargetName = d.Target, d.Target
		}
	}
	events, err := c.cfg.Source.AuditPage(r.Context(), core.AuditPageQuery{BeforeSeq: d.Before, TargetID: targetID, Limit: PageSize + 1})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(events) > PageSize {
		events = events[:PageSize]
		d.Next = events[len(events)-1].Seq
	}
	for _, e := range events {
		d.Rows = append(d.Rows, toEventRow(e))
	}
	v.Data = d
	c.render(w, r, http.StatusOK, "audit", v)
}

type rotationApp struct {
	ID          string
	Name        string
	AppHost     string
	Phase       string
	Downtime    string
	BarWidth    string
	Y           int
	LoggedIn    bool
	LoginFailed bool
	Detail      string
	ms          float64
}

type rotation struct {
	ID          string
	Time        string
	Ended       string
	AccountID   string
	AccountName string
	Strategy    string
	State       string
	// Bad: ended refused, rolled back or with failures; Active: not ended.
	Bad, Active bool
	Reason      string
	From, To    int64
	// Pending is the secret_version of an overlap rotation's pending
	// secret while it logs in beside the current one (0: none).
	Pending     int64
	Error       string
	Owner       string
	Apps        []rotationApp
	ChartHeight int
	Around      []eventRow
}

// aroundWindow is how far before and after a rotation the page looks for
// failed logins and locks of its account.
const aroundWindow = time.Minute

func (c *console) rotations(w http.ResponseWriter, r *http.Request, v *view) {
	list, err := c.cfg.Source.ListRotations(r.Context(), backend.ListRotationsRequest{Limit: Rotations})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rows := make([]rotation, 0, len(list))
	for _, x := range list {
		// The account's failed logins and locks, newest first: one page.
		events, err := c.cfg.Source.AuditPage(r.Context(), core.AuditPageQuery{TargetID: x.AccountID, Limit: 100})
		if err != nil {
			c.fail(w, r, err)
			return
		}
		rows = append(rows, buildRotation(x, events))
	}
	v.Title, v.Nav, v.Data = "Rotations", "rotations", struct{ Rows []rotation }{rows}
	c.render(w, r, http.StatusOK, "rotations", v)
}

// buildRotation shows one rotation object: its steps (each app's downtime,
// from its stop to its first login with the new secret, as the backend
// measured it), and the failed logins and locks of its account around it.
func buildRotation(x backend.Rotation, events []backend.AuditEvent) rotation {
	rot := rotation{
		ID: x.ID, Time: x.CreatedAt.Format(timeFormat), AccountID: x.AccountID, AccountName: x.AccountName,
		Strategy: x.Strategy, State: x.State, Reason: x.Reason, From: x.FromVersion, To: x.ToVersion, Error: x.Error,
		Owner: x.Owner, Active: !x.Ended(),
		Bad: x.Outcome == backend.RotationRefused || x.Outcome == backend.RotationRolledBack || x.Outcome == backend.RotationDoneWithFailures,
	}
	if x.OverlapUntil != nil && !x.Ended() && x.ToVersion == 0 {
		// An overlap rotation under way: a pending secret logs in beside the current one.
		rot.Pending = x.FromVersion + 1
	}
	end := time.Now()
	if x.EndedAt != nil {
		rot.Ended = x.EndedAt.Format(timeFormat)
		end = *x.EndedAt
	}
	for _, st := range x.Steps {
		if st.Phase == backend.StepSkipped {
			continue
		}
		a := rotationApp{ID: st.AppID, Name: st.AppName, AppHost: st.AppHost, Phase: st.Phase, Detail: st.Detail,
			LoggedIn: st.RunningAt != nil, LoginFailed: st.Phase == backend.StepFailed, Downtime: "—"}
		switch {
		case st.DowntimeMS != nil:
			a.ms = *st.DowntimeMS
			a.Downtime = fmt.Sprintf("%.3f ms", a.ms)
		case st.Phase == backend.StepMoved:
			a.Downtime = "none (reloaded)" // an overlap rotation's reload_signal: never stopped
		}
		rot.Apps = append(rot.Apps, a)
	}
	for _, e := range events {
		if (e.Action == backend.ActionLoginFailure || e.Action == backend.ActionAccountLock) &&
			!e.Time.Before(x.CreatedAt.Add(-aroundWindow)) && !e.Time.After(end.Add(aroundWindow)) {
			rot.Around = append(rot.Around, toEventRow(e))
		}
	}
	longest := 0.0
	for _, a := range rot.Apps {
		longest = math.Max(longest, a.ms)
	}
	for i := range rot.Apps {
		w := 0.0
		if longest > 0 {
			w = 360 * rot.Apps[i].ms / longest
		}
		rot.Apps[i].BarWidth = strconv.FormatFloat(math.Max(w, 2), 'f', 1, 64)
		rot.Apps[i].Y = 4 + 26*i
	}
	rot.ChartHeight = 8 + 26*len(rot.Apps)
	return rot
}

// appHosts lists the App Hosts: the real ones (online, offline, or not
// connected yet) and the built-in one of every other app_host in use.
func (c *console) appHosts(w http.ResponseWriter, r *http.Request, v *view) {
	list, err := c.cfg.Source.ListAppHosts(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	type row struct {
		backend.AppHost
		LastReport string
	}
	rows := make([]row, 0, len(list))
	for _, h := range list {
		rw := row{AppHost: h}
		if h.LastReport != nil {
			rw.LastReport = h.LastReport.Format(timeFormat)
		}
		rows = append(rows, rw)
	}
	v.Title, v.Nav, v.Data = "App Hosts", "app-hosts", struct{ Rows []row }{rows}
	c.render(w, r, http.StatusOK, "app-hosts", v)
}
