// Package console is the read-only web console of an apphost admin backend:
// API keys, apps, the last rotations and the audit log, server-rendered with
// html/template and served by `serve` under /console/.
//
// It has no way in of its own: signing in is a login of an admin API key
// account through the API's throttled network login (Config.SignIn), which
// gives a session cookie signed with a key kept in the store, so a session
// made on one replica is good on every other. Pages carry no script at all
// and a Content-Security-Policy that allows none. Nothing but sign-in and
// sign-out changes state, and both check a signed double-submit token and
// the request's origin. No page ever renders a secret: the reads it makes
// (backend.Account, backend.App) carry none.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

// Defaults of Config.
const (
	DefaultSessionTTL   = 8 * time.Hour
	DefaultSecretMaxAge = 90 * 24 * time.Hour
	// PageSize is how many rows a page of keys, apps or audit events shows.
	PageSize = 50
	// Rotations is how many rotations the rotations page shows.
	Rotations = 10
)

// ContentSecurityPolicy goes on every console answer: styles from this
// server only, no script from anywhere, forms posted only here, no framing.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// Source is what the console reads: *core.Service.
type Source interface {
	GetAccount(ctx context.Context, id string) (*backend.Account, error)
	GetAccountByName(ctx context.Context, name string) (*backend.Account, error)
	GetAppByName(ctx context.Context, name string) (*backend.App, error)
	GetApp(ctx context.Context, id string) (*backend.App, error)
	AccountsPage(ctx context.Context, after string, limit int) ([]backend.Account, error)
	AppsPage(ctx context.Context, after string, limit int) ([]backend.App, error)
	ListApps(ctx context.Context, req backend.ListAppsRequest) ([]backend.App, error)
	AccountNames(ctx context.Context, ids []string) (map[string]string, error)
	AuditPage(ctx context.Context, q core.AuditPageQuery) ([]backend.AuditEvent, error)
	ListAuditEvents(ctx context.Context, q backend.AuditQuery) ([]backend.AuditEvent, error)
	ListRotations(ctx context.Context, req backend.ListRotationsRequest) ([]backend.Rotation, error)
	ListAppHosts(ctx context.Context) ([]backend.AppHost, error)
	ConsoleSessionKey(ctx context.Context) ([]byte, error)
	SignOutConsoleSession(ctx context.Context, accountID, id string, expires time.Time) error
	ConsoleSessionEnded(ctx context.Context, accountID, id string, issued time.Time) (bool, error)
}

// SignIn checks an admin API key account's ID and secret the way the API
// checks Basic credentials (throttled per client address and account, never
// counting toward the lockout) and returns the account. Its errors carry
// backend codes: rate_limited, login_failed or unauthorized, forbidden.
type SignIn func(w http.ResponseWriter, r *http.Request, id, secret string) (*backend.Account, error)

// Config configures the console.
type Config struct {
	Source Source
	SignIn SignIn
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SessionTTL is how long a session lasts; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// SecretMaxAge: secrets older than this stand out; 0 means DefaultSecretMaxAge.
	SecretMaxAge time.Duration
	Logger       *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css
var stylesheet []byte

var pages = func() map[string]*template.Template {
	base := template.Must(template.New("").ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
		out[n[len("templates/"):len(n)-len(".html")]] = t
	}
	return out
}()

type console struct {
	cfg Config
	mux *http.ServeMux

	keyMu sync.Mutex
	key   []byte
}

// New returns the console handler; mount it at /console/.
func New(cfg Config) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SecretMaxAge <= 0 {
		cfg.SecretMaxAge = DefaultSecretMaxAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &console{cfg: cfg, mux: http.NewServeMux()}
	c.mux.HandleFunc("GET /console/static/console.css", c.css)
	c.mux.HandleFunc("GET /console/signin", c.signInForm)
	c.mux.HandleFunc("POST /console/signin", c.signIn)
	c.mux.HandleFunc("POST /console/signout", c.signOut)
	c.mux.Handle("GET /console/{$}", c.authed(func(w http.ResponseWriter, r *http.Request, _ *view) {
		http.Redirect(w, r, "/console/keys", http.StatusSeeOther)
	}))
	c.mux.Handle("GET /console/keys", c.authed(c.keys))
	c.mux.Handle("GET /console/apps", c.authed(c.apps))
	c.mux.Handle("GET /console/rotations", c.authed(c.rotations))
	c.mux.Handle("GET /console/app-hosts", c.authed(c.appHosts))
	c.mux.Handle("GET /console/audit", c.authed(c.audit))
	c.mux.Handle("/console/", c.authed(func(w http.ResponseWriter, r *http.Request, v *view) {
		v.Title = "Not found"
		v.Data = "There is no console page at this address."
		c.render(w, r, http.StatusNotFound, "error", v)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("Cache-Control", "no-store")
		// Not the API's no-referrer: under it Chromium sends "Origin: null"
		// with a form post, and the CSRF check needs the real origin. A
		// referrer still never leaves this server.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !cleanQuery(r.URL.RawQuery) {
			c.plainError(w, r, http.StatusBadRequest,
				"The page's address holds a bad %-escape, a NUL byte or bytes that are not UTF-8 text: correct the address.")
			return
		}
		c.mux.ServeHTTP(w, r)
	})
}

// cleanQuery reports whether every query parameter decodes to text that any
// store can hold: the pages pass them to the store (PostgreSQL's text takes
// neither NUL nor invalid UTF-8, and SQLite must answer alike).
func cleanQuery(raw string) bool {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return false
	}
	for k, vs := range q {
		if !backend.CleanText(k) {
			return false
		}
		for _, v := range vs {
			if !backend.CleanText(v) {
				return false
			}
		}
	}
	return true
}

// sessionKey is the store's session signing key, read once.
func (c *console) sessionKey(ctx context.Context) ([]byte, error) {
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.key != nil {
		return c.key, nil
	}
	k, err := c.cfg.Source.ConsoleSessionKey(ctx)
	if err != nil {
		return nil, err
	}
	c.key = k
	return k, nil
}

// view is what every page template gets.
type view struct {
	Title        string
	Nav          string
	Who          string
	SignOutToken string
	Data         any
}

// authed serves h only with a valid session of an admin account that is
// still an admin, unlocked, and at the secret version it signed in with (a
// rotation of the admin key ends its sessions), and that was not signed out.
// A GET without one is sent to the sign-in form; anything else gets 401.
func (c *console) authed(h func(http.ResponseWriter, *http.Request, *view)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _, err := c.session(r)
		if err != nil {
			if errors.Is(err, errBadSession) {
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
					return
				}
				c.plainError(w, r, http.StatusUnauthorized, "Sign in first.")
				return
			}
			c.fail(w, r, err)
			return
		}
		h(w, r, v)
	})
}

// session checks the request's session cookie.
func (c *console) session(r *http.Request) (*view, session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, session{}, errBadSession
	}
	key, err := c.sessionKey(r.Context())
	if err != nil {
		return nil, session{}, err
	}
	s, err := parseSessionToken(key, ck.Value, c.cfg.Now())
	if err != nil {
		return nil, session{}, err
	}
	a, err := c.cfg.Source.GetAccount(r.Context(), s.AccountID)
	if backend.CodeOf(err) == backend.CodeNotFound {
		return nil, session{}, errBadSession
	}
	if err != nil {
		return nil, session{}, err
	}
	if !a.Admin || a.Locked || a.SecretVersion != s.SecretVersion {
		return nil, session{}, errBadSession
	}
	ended, err := c.cfg.Source.ConsoleSessionEnded(r.Context(), s.AccountID, s.ID, s.Issued)
	if err != nil {
		return nil, session{}, err
	}
	if ended {
		return nil, session{}, errBadSession
	}
	return &view{Who: a.Name, SignOutToken: signOutToken(key, s.token)}, s, nil
}

func (c *console) css(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(stylesheet)
}

// render writes a page, buffered so that a template error is a clean 500.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	var buf bytes.Buffer
	if err := pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers a failed read: the cause goes to the log only.
func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "The console could not read the store; try again."
	switch backend.CodeOf(err) {
	case backend.CodeUnavailable:
		status = http.StatusServiceUnavailable
	case backend.CodeInvalid:
		status, msg = http.StatusBadRequest, err.Error()
	default:
		c.cfg.Logger.ErrorContext(r.Context(), "console request failed", "path", r.URL.Path, "error", err.Error())
	}
	c.plainError(w, r, status, msg)
}

func (c *console) plainError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var buf bytes.Buffer
	_ = pages["error"].ExecuteTemplate(&buf, "layout", &view{Title: http.StatusText(status), Data: msg})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	_ = r
}
