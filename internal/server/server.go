// Package server is the HTTP JSON API of an apphost admin backend: the
// backend.Backend interface served over net/http under /v1, guarded by HTTP
// Basic auth with an admin API key account, described by an embedded OpenAPI
// document.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/console"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// DefaultMaxBodyBytes bounds a request body unless Config says otherwise. An
// app's config may reach MaxConfigEntries * 2 * MaxConfigValueLength (2 MiB)
// before JSON overhead, so the bound sits above that.
const DefaultMaxBodyBytes = 4 << 20

// Recommended http.Server settings for whoever builds the server around the
// handler (the serve command, tests).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	// WriteTimeout covers the handler too: a regenerate runs the App Host
	// runtime synchronously, so it is generous.
	WriteTimeout   = 2 * time.Minute
	IdleTimeout    = 2 * time.Minute
	MaxHeaderBytes = 64 << 10
)

// Authenticator checks an admin API caller's Basic credentials.
type Authenticator interface {
	// AuthenticateAdmin returns the account whose ID and secret these are. It
	// should audit a failure without counting it toward the account's lockout
	// (as core.Service.AuthenticateAdmin does): the server throttles
	// failures per client address and account. The account need not be an
	// admin; the server checks.
	AuthenticateAdmin(ctx context.Context, id, secret string) (*backend.Account, error)
}

// BackendAuthenticator authenticates through Backend.Login (which counts
// failures toward the lockout), then reads the account for its Admin flag.
type BackendAuthenticator struct{ Backend backend.Backend }

// AuthenticateAdmin implements Authenticator.
func (a BackendAuthenticator) AuthenticateAdmin(ctx context.Context, id, secret string) (*backend.Account, error) {
	if err := a.Backend.Login(ctx, backend.LoginRequest{AccountID: id, Secret: secret}); err != nil {
		return nil, err
	}
	return a.Backend.GetAccount(ctx, id)
}

// Config configures the handler.
type Config struct {
	// Backend serves every call; usually a *core.Service from embedded.Open.
	Backend backend.Backend
	// Admin authenticates callers; nil means Backend itself when it is an
	// Authenticator (a *core.Service is: a successful auth only reads),
	// else BackendAuthenticator{Backend}.
	Admin Authenticator
	// FailedLogins throttles failed logins per client address and account;
	// the zero value takes the defaults (see RateLimit).
	FailedLogins RateLimit
	// Logger receives one line per request; nil means slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Version is the binary's version, said by GET /v1/version; "" means "dev".
	Version string
	// Console, when set, serves the read-only web console under /console/
	// (package console) from this source, usually the same *core.Service
	// as Backend. Its sign-in is the admin API's login: same accounts, same
	// throttle.
	Console console.Source
	// ConsoleSessionTTL is how long a console session lasts; 0 means
	// console.DefaultSessionTTL.
	ConsoleSessionTTL time.Duration
	// Now is the console's clock (session expiry); nil means time.Now.
	Now func() time.Time
	// Drain, when closed, ends the App Hosts' long polls at once (each is
	// answered with the desired state as it is): close it when the server
	// begins to shut down (http.Server.RegisterOnShutdown), so that the
	// shutdown waits for the requests in flight, not for the long polls'
	// wait to run out.
	Drain <-chan struct{}
}

// hostRoutes are the App Host protocol's routes (package hostapi): called by
// the App Host account of {name}, and nobody else.
func hostRoutes() []hostRoute {
	return []hostRoute{
		{"POST", "/v1/app-hosts/{name}/sessions", (*server).openSession},
		{"GET", "/v1/app-hosts/{name}/desired", (*server).desired},
		{"POST", "/v1/app-hosts/{name}/reports", (*server).report},
	}
}

// RotationDriver starts rotations and drives them in the background, for
// regenerates that ask for an asynchronous answer (core.Service is one).
type RotationDriver interface {
	StartRotation(ctx context.Context, req backend.RegenerateRequest) (*backend.Rotation, error)
	DriveRotation(ctx context.Context, id string) error
}

// AppHostService serves the App Host protocol (core.Service is one).
type AppHostService interface {
	OpenAppHostSession(ctx context.Context, name, address string, req hostapi.SessionRequest) (*hostapi.Session, error)
	AppHostDesired(ctx context.Context, name, session string, after int64, wait time.Duration) (*hostapi.Desired, error)
	ReportAppHost(ctx context.Context, name string, r hostapi.Report) (*hostapi.ReportAnswer, error)
	ForgetAppHost(ctx context.Context, name string) error
}

// server holds the handler's dependencies.
type server struct {
	b         backend.Backend
	rotations RotationDriver // nil: regenerates answer synchronously
	hosts     AppHostService // nil: no App Host protocol
	auth      Authenticator
	limit     *limiter
	log       *slog.Logger
	maxBody   int64
	ver       string
	mux       *http.ServeMux
	drain     <-chan struct{} // see Config.Drain
}

// route is one API operation. The table is the single source of the mux and
// of the test that holds the OpenAPI document to it.
type route struct {
	method string
	path   string
	// public routes need no admin credentials.
	public bool
	h      func(s *server, w http.ResponseWriter, r *http.Request) error
}

func routes() []route {
	return []route{
		{"GET", "/healthz", true, (*server).healthz},
		{"GET", "/v1/openapi.json", true, (*server).openapi},
		{"GET", "/v1/version", true, (*server).version},
		{"POST", "/v1/login", true, (*server).login},

		{"GET", "/v1/accounts", false, (*server).listAccounts},
		{"POST", "/v1/accounts", false, (*server).createAccount},
		{"GET", "/v1/accounts/by-name/{name}", false, (*server).getAccountByName},
		{"GET", "/v1/accounts/{id}", false, (*server).getAccount},
		{"PUT", "/v1/accounts/{id}", false, (*server).updateAccount},
		{"DELETE", "/v1/accounts/{id}", false, (*server).deleteAccount},
		{"POST", "/v1/accounts/{id}/regenerate", false, (*server).regenerate},

		{"GET", "/v1/apps", false, (*server).listApps},
		{"POST", "/v1/apps", false, (*server).createApp},
		{"GET", "/v1/apps/by-name/{name}", false, (*server).getAppByName},
		{"GET", "/v1/apps/{id}", false, (*server).getApp},
		{"PUT", "/v1/apps/{id}", false, (*server).updateApp},
		{"DELETE", "/v1/apps/{id}", false, (*server).deleteApp},
		{"POST", "/v1/apps/{id}/deploy", false, (*server).deployApp},
		{"POST", "/v1/apps/{id}/undeploy", false, (*server).undeployApp},

		{"PUT", "/v1/apps/{id}/secrets/{name}", false, (*server).putAppSecret},
		{"GET", "/v1/apps/{id}/secrets/{name}", false, (*server).getAppSecret},
		{"DELETE", "/v1/apps/{id}/secrets/{name}", false, (*server).deleteAppSecret},

		{"GET", "/v1/app-hosts", false, (*server).listAppHosts},
		{"POST", "/v1/app-hosts/{name}/forget", false, (*server).forgetAppHost},

		{"GET", "/v1/rotations", false, (*server).listRotations},
		{"GET", "/v1/rotations/{id}", false, (*server).getRotation},
		{"POST", "/v1/rotations/{id}/result", false, (*server).rotationResult},

		{"GET", "/v1/audit", false, (*server).listAudit},
	}
}

// New returns the API handler. The caller builds the http.Server around it
// (see the timeout constants) and owns cfg.Backend.
func New(cfg Config) http.Handler {
	s := &server{
		b:       cfg.Backend,
		auth:    cfg.Admin,
		log:     cfg.Logger,
		maxBody: cfg.MaxBodyBytes,
		ver:     cfg.Version,
		limit:   newLimiter(cfg.FailedLogins),
		mux:     http.NewServeMux(),
		drain:   cfg.Drain,
	}
	if s.auth == nil {
		if a, ok := cfg.Backend.(Authenticator); ok {
			s.auth = a
		} else {
			s.auth = BackendAuthenticator{Backend: cfg.Backend}
		}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if d, ok := cfg.Backend.(RotationDriver); ok {
		s.rotations = d
	}
	if h, ok := cfg.Backend.(AppHostService); ok {
		s.hosts = h
		for _, rt := range hostRoutes() {
			s.mux.Handle(rt.method+" "+rt.path, s.hostEndpoint(rt))
		}
	}
	if s.ver == "" {
		s.ver = "dev"
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	for _, rt := range routes() {
		s.mux.Handle(rt.method+" "+rt.path, s.endpoint(rt))
	}
	if cfg.Console != nil {
		s.mux.Handle("/console/", console.New(console.Config{
			Source: cfg.Console, SignIn: s.consoleSignIn, Now: cfg.Now,
			SessionTTL: cfg.ConsoleSessionTTL, Logger: s.log,
		}))
		s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	}
	return s.middleware(s.dispatch)
}

// endpoint wraps one route with auth and error writing.
func (s *server) endpoint(rt route) http.Handler {
	h := rt.h
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := cleanRequest(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if !rt.public {
			ctx, err := s.authenticate(w, r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(ctx)
		}
		if err := h(s, w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// dispatch routes a request; when no route matches, the mux's plain-text 404
// or 405 is replaced with our JSON error (keeping the Allow header).
func (s *server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	c := &captureWriter{header: http.Header{}}
	s.mux.ServeHTTP(c, r)
	switch c.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", c.header.Get("Allow"))
		s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, err: backend.Errorf(
			backend.CodeInvalid, "method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, c.header.Get("Allow"))})
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		// Path cleaning redirects (double slashes and the like) pass through.
		for k, v := range c.header {
			w.Header()[k] = v
		}
		w.WriteHeader(c.status)
	default:
		s.writeError(w, r, &apiError{status: http.StatusNotFound, err: backend.Errorf(
			backend.CodeNotFound, "no such API path: %s %s (see /v1/openapi.json)", r.Method, r.URL.Path)})
	}
}

// captureWriter records what the mux would answer to an unmatched request.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(p), nil
}
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

// apiError carries an HTTP status for errors the domain does not make:
// malformed requests, unknown routes, auth failures.
type apiError struct {
	status int
	err    *backend.Error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func badRequest(field, format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, err: backend.InvalidField(field, format, args...)}
}
