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

// rotationWindow is how many events either side of a regeneration the
// rotations page reads to find the rotation's apps and what went on around it.
const rotationWindow = 200

type rotationApp struct {
	ID          string
	Name        string
	Downtime    string
	BarWidth    string
	Y           int
	LoggedIn    bool
	LoginFailed bool
	ms          float64
}

type rotation struct {
	Seq         int64
	Time        string
	Actor       string
	AccountID   string
	AccountName string
	Version     string
	Apps        []rotationApp
	ChartHeight int
	Around      []eventRow
}

func (c *console) rotations(w http.ResponseWriter, r *http.Request, v *view) {
	regens, err := c.cfg.Source.AuditPage(r.Context(), core.AuditPageQuery{Action: backend.ActionAccountRegenerate, Limit: Rotations})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var rows []rotation
	for _, reg := range regens {
		window, err := c.cfg.Source.ListAuditEvents(r.Context(), backend.AuditQuery{
			AfterSeq: max(0, reg.Seq-rotationWindow-1), Limit: 2*rotationWindow + 1})
		if err != nil {
			c.fail(w, r, err)
			return
		}
		rows = append(rows, buildRotation(reg, window))
	}
	v.Title, v.Nav, v.Data = "Rotations", "rotations", struct{ Rows []rotation }{rows}
	c.render(w, r, http.StatusOK, "rotations", v)
}

// buildRotation reads one rotation out of the events around its
// regeneration reg. The rotation's own events are the run of the same
// actor's events that one transaction writes: app.undeploy events before
// reg; app_secret.put, app.deploy (with downtime_ms), and the apps' logins
// after it. Failed logins and locks of the account anywhere in the window
// are what happened around it.
func buildRotation(reg backend.AuditEvent, window []backend.AuditEvent) rotation {
	rot := rotation{Seq: reg.Seq, Time: reg.Time.Format(timeFormat), Actor: reg.Actor, AccountID: reg.TargetID, AccountName: reg.TargetName}
	rot.Version = detailField(reg.Detail, "secret_version")
	at := -1
	for i, e := range window {
		if e.Seq == reg.Seq {
			at = i
		}
	}
	if at < 0 {
		return rot
	}
	near := func(e backend.AuditEvent) bool {
		d := e.Time.Sub(reg.Time)
		return d < time.Minute && d > -time.Minute
	}
	// After reg, the same transaction: the secrets sealed and the apps
	// deployed (by reg's actor), each deploy followed by the logins of the
	// app it started (whose actor is the app).
	for _, e := range window[at+1:] {
		if !near(e) {
			break
		}
		n := len(rot.Apps)
		if e.Actor == reg.Actor && e.Action == backend.ActionAppSecretPut && n == 0 {
			continue
		}
		if e.Actor == reg.Actor && e.Action == backend.ActionAppDeploy {
			ms, _ := strconv.ParseFloat(detailField(e.Detail, "downtime_ms"), 64)
			rot.Apps = append(rot.Apps, rotationApp{ID: e.TargetID, Name: e.TargetName, ms: ms, Downtime: fmt.Sprintf("%.3f ms", ms)})
			continue
		}
		if n > 0 && e.Actor == rot.Apps[n-1].Name {
			switch e.Action {
			case backend.ActionLoginSuccess:
				rot.Apps[n-1].LoggedIn = rot.Apps[n-1].LoggedIn || e.TargetID == reg.TargetID
				continue
			case backend.ActionLoginFailure, backend.ActionAccountLock:
				rot.Apps[n-1].LoginFailed = true
				continue
			}
		}
		break // the transaction's events end here
	}
	for _, e := range window {
		if (e.Action == backend.ActionLoginFailure || e.Action == backend.ActionAccountLock) && e.TargetID == reg.TargetID {
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

// detailField returns the value of the field name in an audit detail
// ("a=1, b=2"), or "". A value the domain quoted (free text such as a
// version) is read whole, so text inside it is never taken for a field; and
// of two fields of one name the last counts, as in events written before
// versions were quoted the domain's own fields came after the version.
func detailField(detail, name string) string {
	found := ""
	for rest := detail; rest != ""; {
		k, v, ok := strings.Cut(strings.TrimLeft(rest, " "), "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				break
			}
			val, _ = strconv.Unquote(q)
			_, rest, _ = strings.Cut(v[len(q):], ",")
		} else {
			val, rest, _ = strings.Cut(v, ",")
			val = strings.TrimSpace(val)
		}
		if k == name {
			found = val
		}
	}
	return found
}
