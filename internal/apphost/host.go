// Package apphost is the App Host: the process (terraform-provider-apphost
// host) that runs the apps of one App Host name on its machine, as IBM's App
// Host does. It connects to a server as its App Host account, keeps its
// apps as the server's desired state says (the protocol is package
// hostapi), runs them with a driver (package driver: exec runs a process
// per app, virtual only logs in), and reports what runs.
//
// Its life, in DIR (Config.Dir; made 0700, and refused if others may read
// it: it holds the apps' secrets):
//
//   - It speaks to the server that answered last of its endpoints, and to
//     the next on a connection error or a 5xx, backing off when none
//     answers; plain http:// only to loopback, for its secret is in every
//     call. A refusal of its credentials or name ends it (Run's error).
//   - It keeps an instance ID in DIR/instance-id: restarted in DIR it is the
//     same instance, and takes its name over at once (the server fences the
//     old session); another instance waits while the first is online.
//   - Before anything else the driver adopts the apps that a killed host
//     process left running in DIR, or stops them: never two processes of
//     one app. A session whose answer says Reset (the host was declared
//     lost with app-hosts forget) stops every app before it starts any.
//   - It long-polls the desired state and applies each revision: an app
//     meant to run is started (the driver leaves one that runs its
//     generation alone), one that is not is stopped, and one the server no
//     longer lists is stopped too. Stops go before starts.
//   - Each start gives the app a new token (APPHOST_APP_TOKEN) with which its
//     logins prove which app it is; the host reports the token's hash
//     before the app starts, so its first login already counts, and keeps
//     the hash of each process's token in DIR/tokens/NAME, so a restarted
//     host reports the same hash for a process it adopted.
//   - It reports at once after applying a revision, when the driver tells
//     of a change (a few changes in a row are one report), and every
//     report interval the server asked for.
//   - Ended by its context (SIGTERM), it stops every app, each within its
//     stop_timeout, reports them stopped, and returns. Killed, it leaves its
//     apps running for the next host process in DIR to adopt.
package apphost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/exec"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/virtual"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// Drivers.
const (
	DriverExec    = "exec"
	DriverVirtual = "virtual"
)

// DefaultDir is the host's directory when Config.Dir is empty.
func DefaultDir(name string) string { return filepath.Join(".apphost", "host-"+name) }

// Config configures an App Host.
type Config struct {
	// Name is the App Host's name: the app_host of its apps and of its App
	// Host account.
	Name string
	// Endpoints are the servers' base URLs (replicas of one backend); the
	// host fails over between them. Plain http:// only to loopback.
	Endpoints []string
	// KeyID and Secret are the App Host account's credentials. The Secret
	// is never logged.
	KeyID, Secret string
	// Dir is the host's directory (DefaultDir when empty), made 0700.
	Dir string
	// Driver is DriverExec (when empty) or DriverVirtual.
	Driver string
	// CAFile is a PEM bundle of CAs to trust besides the system's, for the
	// host and (APPHOST_CA_FILE) its apps.
	CAFile string
	// Version is the host's version, told to the server.
	Version string
	// Logger gets the host's messages (never a secret); nil discards them.
	Logger *slog.Logger
}

// Timing of the host.
const (
	// coalesce is how long the host waits after a driver event for more
	// before it reports.
	coalesce = 20 * time.Millisecond
	// minReportInterval bounds the server's report interval from below.
	minReportInterval = 100 * time.Millisecond
	// maxParallel bounds the apps started or stopped at once.
	maxParallel = 32
	// finalReportTimeout bounds the report of the stopped apps at exit.
	finalReportTimeout = 2 * time.Second
	// nudgeGrace: see poll.
	nudgeGrace = 250 * time.Millisecond
)

// Host is an App Host. Make one with New, run it with Run.
type Host struct {
	cfg Config
	log *slog.Logger
	c   *client

	// Set by Run.
	drv      driver.Driver
	tok      *tokens
	instance string

	// kick asks the reporter for a report soon (a driver event); nudge
	// asks the poller to fetch at once: a report answered this newer
	// revision.
	kick  chan struct{}
	nudge chan int64
	// sendMu makes reports one at a time, each built when it is sent.
	sendMu sync.Mutex

	mu       sync.Mutex
	session  string           // the current session's ID
	interval time.Duration    // its report interval
	target   *hostapi.Desired // the desired state applied last, or being applied
	applied  int64            // the revision applied
	fetched  int64            // the revision fetched last
	// Per app name: the desired generation whose start or stop is done
	// (what a stopped app reports); the generation given to the driver by
	// a Start of this host process; the apps whose start is under way, and
	// the starts the driver refused.
	appliedGen map[string]int64
	given      map[string]int64
	starting   map[string]announced
	startErr   map[string]startFailure
	// reloaded is, per app name, the last reload_signal this host process
	// sent and to which process.
	reloaded map[string]reloadMark
}

// reloadMark is a reload_signal sent at at to the process pid started at
// startedAt.
type reloadMark struct {
	pid       int
	startedAt time.Time
	at        time.Time
}

// announced is an app whose start is under way: reported as starting with
// its new token's hash, before its process could log in.
type announced struct {
	gen  int64
	hash string
}

// startFailure is a start the driver refused.
type startFailure struct {
	gen    int64
	detail string
}

// New checks cfg (and reads its CA file) and makes a Host; Run does the
// rest.
func New(cfg Config) (*Host, error) {
	var errs []error
	if err := backend.ValidateName("name", cfg.Name); err != nil {
		errs = append(errs, fmt.Errorf("the App Host name %q is not valid: it must be 1 to %d characters and %s",
			cfg.Name, backend.MaxNameLength, backend.NameRule))
	}
	if len(cfg.Endpoints) == 0 {
		errs = append(errs, errors.New("no endpoint: give the URL of the apphost server (serve), such as https://apphost.example:8443"))
	}
	for _, e := range cfg.Endpoints {
		if err := checkEndpoint(e); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case cfg.KeyID == "":
		errs = append(errs, errors.New("no API key ID: give the App Host account's ID with --key-id or APPHOST_API_KEY_ID"))
	case strings.Contains(cfg.KeyID, ":") || !backend.CleanText(cfg.KeyID) || len(cfg.KeyID) > backend.MaxNameLength:
		errs = append(errs, fmt.Errorf("the API key ID %q is not an API key account ID (a UUID)", cfg.KeyID))
	}
	if cfg.Secret == "" {
		errs = append(errs, errors.New("the App Host account's secret is empty"))
	}
	switch cfg.Driver {
	case "":
		cfg.Driver = DriverExec
	case DriverExec, DriverVirtual:
	default:
		errs = append(errs, fmt.Errorf("driver %q is not one of %s (a process per app) and %s (logins only, no process)",
			cfg.Driver, DriverExec, DriverVirtual))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir(cfg.Name)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if cfg.CAFile != "" {
		if cfg.CAFile, err = filepath.Abs(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("app_host", cfg.Name)
	c, err := newClient(cfg, log)
	if err != nil {
		return nil, err
	}
	return &Host{
		cfg: cfg, log: log, c: c,
		kick: make(chan struct{}, 1), nudge: make(chan int64, 1),
		appliedGen: map[string]int64{}, given: map[string]int64{},
		starting: map[string]announced{}, startErr: map[string]startFailure{}, reloaded: map[string]reloadMark{},
	}, nil
}

// Run runs the host until ctx ends, then stops every app (each within its
// stop_timeout) and returns nil. It returns an error at once when the
// server refuses the host's credentials or name (or its directory is
// unusable), leaving the apps running for the next host process in DIR.
func (h *Host) Run(ctx context.Context) error {
	if err := prepareDir(h.cfg.Dir); err != nil {
		return err
	}
	unlock, err := lockDir(h.cfg.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	if h.instance, err = instanceID(h.cfg.Dir); err != nil {
		return err
	}
	if h.tok, err = openTokens(h.cfg.Dir); err != nil {
		return fmt.Errorf("reading the token records in %s: %w", h.cfg.Dir, err)
	}
	if h.drv, err = h.newDriver(); err != nil {
		return err
	}
	go func() {
		for range h.drv.Events() {
			h.kickReport()
		}
	}()
	adopted, err := h.drv.Adopt(ctx)
	if err != nil {
		return fmt.Errorf("adopting the apps an earlier App Host process left in %s: %w", h.cfg.Dir, err)
	}
	for _, s := range adopted {
		h.log.Info("adopted a running app", "app", s.Name, "pid", s.PID, "generation", s.Generation)
	}
	h.log.Info("App Host starting", "instance", h.instance, "dir", h.cfg.Dir, "driver", h.cfg.Driver,
		"endpoints", strings.Join(h.c.endpoints, ","))

	err = h.loop(ctx)
	if ctx.Err() == nil {
		return err
	}
	h.shutdown()
	return nil
}

func (h *Host) newDriver() (driver.Driver, error) {
	if h.cfg.Driver == DriverVirtual {
		return virtual.New(h.appLogin), nil
	}
	d, err := exec.New(exec.Options{Dir: h.cfg.Dir, Endpoint: strings.Join(h.c.endpoints, ","), CAFile: h.cfg.CAFile,
		Logger: h.log.With("driver", DriverExec)})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// loop opens a session and serves it, and a new one when it is fenced,
// until ctx ends or the server refuses the host.
func (h *Host) loop(ctx context.Context) error {
	for {
		sess, err := h.openSession(ctx)
		if err != nil {
			return err
		}
		err = h.serve(ctx, sess)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case codeOf(err) == hostapi.CodeFenced:
			h.log.Warn("the server replaced this session (a newer session of this instance, or app-hosts forget): opening a new one")
		default:
			return err
		}
	}
}

// openSession opens a session, retrying while the server is unreachable or
// another instance holds the name.
func (h *Host) openSession(ctx context.Context) (*hostapi.Session, error) {
	var bo backoff
	for {
		s, err := h.c.openSession(ctx, hostapi.SessionRequest{InstanceID: h.instance, Version: h.cfg.Version, Driver: h.cfg.Driver})
		if err == nil {
			h.log.Info("session opened", "instance", h.instance, "reset", s.Reset,
				"report_interval", s.ReportInterval().String())
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if fatal(err) {
			return nil, refused(err)
		}
		wait := max(bo.next(), retryAfterOf(err))
		switch {
		case codeOf(err) == hostapi.CodeInUse:
			h.log.Error("another instance of this App Host is online: waiting until it is not. Stop it, or, if its "+
				"machine is lost, declare it lost with terraform-provider-apphost app-hosts forget "+h.cfg.Name,
				"error", err.Error(), "retry_in", wait.String())
		case isTransient(err):
			h.log.Warn("cannot open a session", "error", err.Error(), "retry_in", wait.String())
		default:
			return nil, fmt.Errorf("opening a session: %w", err)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// refused is a fatal refusal of the server, said so that the operator
// knows what to fix.
func refused(err error) error {
	return fmt.Errorf("the server refused this App Host: %w. Check --name, the key ID (--key-id or "+
		"APPHOST_API_KEY_ID) and --secret-file: the account must be the App Host account of this name "+
		"(app_host), unlocked, with this secret", err)
}

// serve runs one session: the reporter beside, and the desired state
// polled and applied until the session is fenced, the server refuses the
// host, or ctx ends.
func (h *Host) serve(ctx context.Context, sess *hostapi.Session) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	h.mu.Lock()
	h.session, h.interval = sess.SessionID, max(sess.ReportInterval(), minReportInterval)
	h.mu.Unlock()
	if sess.Reset {
		h.reset()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.reporter(sctx, cancel)
	}()
	defer func() {
		cancel(nil)
		<-done
	}()
	var bo backoff
	for {
		h.mu.Lock()
		after := h.applied
		h.mu.Unlock()
		d, err := h.poll(sctx, sess.SessionID, after)
		if sctx.Err() != nil {
			if cause := context.Cause(sctx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
				return cause // the reporter's: fenced, or refused
			}
			return ctx.Err()
		}
		if err != nil {
			switch {
			case codeOf(err) == hostapi.CodeFenced:
				return err
			case fatal(err):
				return refused(err)
			}
			wait := max(bo.next(), retryAfterOf(err))
			h.log.Warn("cannot fetch the desired state", "error", err.Error(), "retry_in", wait.String())
			_ = sleep(sctx, wait) // an end of sctx is handled at the next turn
			continue
		}
		bo.reset()
		if err := h.apply(sctx, d); err != nil {
			if fatal(err) {
				err = refused(err)
			}
			cancel(err)
		}
	}
}

// poll long-polls the desired state. A nudge (a report answered a newer
// revision) cuts the wait short if the poll has not answered nudgeGrace
// later: the server wakes a long poll itself when the revision changes, so
// the nudge is for a server that missed it.
func (h *Host) poll(ctx context.Context, session string, after int64) (*hostapi.Desired, error) {
	for {
		pctx, cancel := context.WithCancel(ctx)
		nudged := make(chan struct{})
		go func() {
			for newer := false; !newer; {
				select {
				case rev := <-h.nudge:
					newer = rev > after // else from before the last fetch
				case <-pctx.Done():
					return
				}
			}
			t := time.NewTimer(nudgeGrace)
			defer t.Stop()
			select {
			case <-t.C:
				close(nudged)
				cancel()
			case <-pctx.Done():
			}
		}()
		d, err := h.c.desired(pctx, session, after, pollWait)
		cancel()
		select {
		case <-nudged:
			if err != nil && ctx.Err() == nil {
				continue // cut short: ask again, the answer comes at once
			}
		default:
		}
		return d, err
	}
}

// reset stops every app before anything starts: the server declared the
// host lost, and may have moved on without it.
func (h *Host) reset() {
	h.log.Warn("this App Host was declared lost (app-hosts forget) or ran as another instance: stopping every app before starting any")
	var names []string
	for _, s := range h.drv.List() {
		if s.Phase != driver.PhaseStopped {
			names = append(names, s.Name)
		}
	}
	h.stopAll(names, nil)
	h.mu.Lock()
	h.given, h.appliedGen, h.startErr = map[string]int64{}, map[string]int64{}, map[string]startFailure{}
	h.reloaded = map[string]reloadMark{}
	h.mu.Unlock()
}

// shutdown stops every app (each within its stop_timeout, then SIGKILL)
// and tells the server.
func (h *Host) shutdown() {
	h.log.Info("stopping every app before exiting")
	if err := h.drv.Close(context.Background()); err != nil {
		h.log.Error("stopping the apps", "error", err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), finalReportTimeout)
	defer cancel()
	if err := h.sendReport(ctx); err != nil {
		h.log.Warn("reporting the stopped apps", "error", err.Error())
	}
	h.log.Info("App Host stopped")
}
