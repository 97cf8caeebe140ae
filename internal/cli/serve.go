package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// Environment variables of the admin account bootstrap.
const (
	EnvAdminKeyID     = "APPHOST_ADMIN_KEY_ID"
	EnvAdminKeySecret = "APPHOST_ADMIN_KEY_SECRET"
)

// adminAccountName is the name of the bootstrapped admin account.
const adminAccountName = "admin"

// Bounds of the failed-login throttle flags: a burst in the thousands or a
// backoff below a second is no throttle; one above a day shuts an address
// out of an account for good.
const (
	maxLoginBurst   = 1000
	minLoginBackoff = time.Second
	maxLoginBackoff = 24 * time.Hour
)

// proxyList is the repeatable --trusted-proxy flag.
type proxyList []netip.Prefix

func (p *proxyList) String() string {
	var out []string
	for _, x := range *p {
		out = append(out, x.String())
	}
	return strings.Join(out, ",")
}

func (p *proxyList) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		pr, err := server.ParseTrustedProxy(part)
		if err != nil {
			return err
		}
		*p = append(*p, pr)
	}
	return nil
}

// serveGCPercent is serve's GOGC unless the environment sets one.
const serveGCPercent = 400

// Rotation flags: the sweep's default period, and the shortest lease or
// period that still leaves a driver time to renew.
const (
	defaultRotationSweep = 5 * time.Second
	minRotationLease     = 100 * time.Millisecond
)

// sweepRotations finishes, every period, the rotations whose driver's lease
// expired (a driver that died: another replica, or a provider).
func sweepRotations(ctx context.Context, svc *core.Service, period time.Duration, log *slog.Logger) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := svc.SweepRotations(ctx); err != nil && ctx.Err() == nil {
			log.Warn("finishing rotations whose driver's lease expired", "error", err)
		}
	}
}

// minAppHostOfflineAfter is the shortest --app-host-offline-after: an App
// Host reports every third of it, and must have time to.
const minAppHostOfflineAfter = 300 * time.Millisecond

// sweepAppHosts records, every period, the App Hosts that stopped
// reporting as offline (app_host.offline).
func sweepAppHosts(ctx context.Context, svc *core.Service, period time.Duration, log *slog.Logger) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := svc.SweepAppHosts(ctx); err != nil && ctx.Err() == nil {
			log.Warn("recording the App Hosts that stopped reporting as offline", "error", err)
		}
	}
}

// shutdownTimeout bounds the wait for requests in flight on SIGTERM/SIGINT.
const shutdownTimeout = 30 * time.Second

// runServe runs the admin backend over HTTP until SIGTERM or SIGINT (or ctx
// ends). Logs are JSON lines on stderr; stdout gets the listening address and,
// once, a generated admin secret.
func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("serve", "[--listen ADDR] [--store STORE] [--key-file FILE] [--tls-cert FILE --tls-key FILE] [--lockout-threshold N] [--login-burst N] [--login-backoff DURATION] [--login-backoff-max DURATION] [--trusted-proxy CIDR]... [--rotation-lease DURATION] [--rotation-sweep DURATION] [--app-host-offline-after DURATION]", stderr)
	var (
		sf          storeFlags
		listen      string
		tlsCert     string
		tlsKey      string
		threshold   int
		loginBurst  int
		backoff     time.Duration
		backoffMax  time.Duration
		trustedProx proxyList
		lease       time.Duration
		sweep       time.Duration
		offline     time.Duration
	)
	sf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&tlsCert, "tls-cert", "", "PEM certificate file; serves HTTPS with --tls-key")
	fs.StringVar(&tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.IntVar(&threshold, "lockout-threshold", backend.DefaultLockoutThreshold,
		"failed logins of the App Host's apps and of the login command that lock an account (network logins never count)")
	fs.IntVar(&loginBurst, "login-burst", server.DefaultFailedLoginBurst,
		"how many failed logins (`N`) one client address may make at one account before it must wait --login-backoff")
	fs.DurationVar(&backoff, "login-backoff", server.DefaultFailedLoginBackoff,
		"the first wait (a `DURATION` such as 1m) of a client address after --login-burst failed logins at one account, doubled at each further failure; "+
			"while it waits every attempt gets 429 unchecked, right secret or wrong")
	fs.DurationVar(&backoffMax, "login-backoff-max", server.DefaultFailedLoginMaxBackoff,
		"the longest wait (a `DURATION`) of the doubling --login-backoff")
	fs.Var(&trustedProx, "trusted-proxy",
		"a reverse proxy (an address or a `CIDR`; repeat or comma-separate) whose X-Forwarded-For names the client address of the login throttle; "+
			"without it the client address is the TCP peer")
	fs.DurationVar(&lease, "rotation-lease", core.DefaultRotationLease,
		"how long (a `DURATION`) a rotation's driver may go silent before another server (or the next apply) takes the rotation over")
	fs.DurationVar(&sweep, "rotation-sweep", defaultRotationSweep,
		"how often (a `DURATION`) this server looks for rotations whose driver's lease expired, and finishes them")
	fs.DurationVar(&offline, "app-host-offline-after", core.DefaultAppHostOfflineAfter,
		"how long (a `DURATION`) an App Host may go without a report before it is offline (it reports every third of it); "+
			"a rotation is refused while an App Host of its apps is offline")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if offline < minAppHostOfflineAfter {
		fmt.Fprintf(stderr, "serve: --app-host-offline-after must be at least %s, such as 15s\n", minAppHostOfflineAfter)
		return exitUsage
	}
	if lease < minRotationLease || sweep < minRotationLease {
		fmt.Fprintf(stderr, "serve: --rotation-lease and --rotation-sweep must be at least %s\n", minRotationLease)
		return exitUsage
	}
	if !sf.check(stderr, "serve") {
		return exitUsage
	}
	if (tlsCert == "") != (tlsKey == "") {
		fmt.Fprintln(stderr, "serve: --tls-cert and --tls-key go together: set both for HTTPS, or neither for HTTP")
		return exitUsage
	}
	if threshold < 1 {
		fmt.Fprintln(stderr, "serve: --lockout-threshold must be at least 1")
		return exitUsage
	}
	if loginBurst < 1 || loginBurst > maxLoginBurst {
		fmt.Fprintf(stderr, "serve: --login-burst must be between 1 and %d, got %d\n", maxLoginBurst, loginBurst)
		return exitUsage
	}
	for name, d := range map[string]time.Duration{"--login-backoff": backoff, "--login-backoff-max": backoffMax} {
		if d < minLoginBackoff || d > maxLoginBackoff {
			fmt.Fprintf(stderr, "serve: %s must be between %s and %s, such as 1m, got %s\n", name, minLoginBackoff, maxLoginBackoff, d)
			return exitUsage
		}
	}
	if backoffMax < backoff {
		fmt.Fprintf(stderr, "serve: --login-backoff-max (%s) must not be below --login-backoff (%s)\n", backoffMax, backoff)
		return exitUsage
	}
	// An admin secret from outside is checked before anything is opened.
	if err := checkAdminEnv(); err != nil {
		fmt.Fprintf(stderr, "%s serve: %v\n", Program, err)
		return exitUsage
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	// A server's live heap is small and its garbage per request large, so
	// the default GOGC=100 collects very often; 400 spends a few more MB
	// for about a tenth less CPU per login. GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s serve: %s\n", Program, fmt.Sprintf(format, a...))
		return exitFail
	}

	var tlsConfig *tls.Config
	if tlsCert != "" {
		// Load now so a bad pair fails before the port is taken.
		pair, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			return fail("loading --tls-cert and --tls-key: %v", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	}

	warnTrustedProxies(log, trustedProx)
	storeCfg := embedded.Config{Store: sf.store, KeyFile: sf.keyFile, LockoutThreshold: threshold, RotationLease: lease,
		AppHostOfflineAfter: offline}
	svc, err := embedded.Open(ctx, storeCfg)
	if err != nil {
		return fail("opening store %s: %v", redactStore(sf.store), err)
	}
	defer func() { _ = svc.Close() }()
	warnOpenFiles(log, storeCfg)

	// The port first: a generated admin secret is shown only once, so it is
	// made only when the server can start.
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fail("listening on %s: %v", listen, err)
	}
	defer func() { _ = ln.Close() }()
	// The one display of a generated secret comes after the listening line.
	var shown strings.Builder
	if err := bootstrapAdmin(ctx, svc, &shown, log); err != nil {
		return fail("%v", err)
	}

	// Closed when the shutdown begins: the App Hosts' long polls end then.
	drain := make(chan struct{})
	srv := &http.Server{
		Handler: server.New(server.Config{Backend: svc, Console: svc, Logger: log, Version: Version, Drain: drain,
			FailedLogins: server.RateLimit{Burst: loginBurst, Backoff: backoff, MaxBackoff: backoffMax, TrustedProxies: trustedProx}}),
		TLSConfig:         tlsConfig,
		ConnContext:       server.ConnContext, // r.TLS under the JSONErrors wrapper
		ReadHeaderTimeout: server.ReadHeaderTimeout,
		ReadTimeout:       server.ReadTimeout,
		WriteTimeout:      server.WriteTimeout,
		IdleTimeout:       server.IdleTimeout,
		MaxHeaderBytes:    server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	srv.RegisterOnShutdown(func() { close(drain) })

	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go sweepRotations(sigCtx, svc, sweep, log)
	go sweepAppHosts(sigCtx, svc, offline/3, log)
	served := make(chan error, 1)
	go func() {
		// net/http's own 400 and 431 answers are made JSON by the wrapper.
		if tlsConfig != nil {
			served <- srv.Serve(server.JSONErrors(tls.NewListener(ln, tlsConfig)))
		} else {
			served <- srv.Serve(server.JSONErrors(ln))
		}
	}()
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	addr := ln.Addr().String()
	log.Info("serving", "address", addr, "scheme", scheme, "store", redactStore(sf.store))
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, addr)
	_, _ = io.WriteString(stdout, shown.String())

	select {
	case err := <-served:
		return fail("serving: %v", err)
	case <-sigCtx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fail("shutting down: %v", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail("serving: %v", err)
	}
	log.Info("stopped")
	return exitOK
}

// warnTrustedProxies warns of a --trusted-proxy so wide that clients, not
// only proxies, are believed: any client could then name any address in
// X-Forwarded-For and take a new place in the login throttle at each try.
func warnTrustedProxies(log *slog.Logger, proxies []netip.Prefix) {
	for _, p := range proxies {
		if p.Bits() < 8 && (p.Addr().Is4() || p.Bits() < 7) {
			log.Warn("--trusted-proxy "+p.String()+" trusts the X-Forwarded-For of clients, not only of proxies: "+
				"any client can then name any address and escape the failed-login throttle; name your reverse proxies' addresses only",
				"trusted_proxy", p.String())
		}
	}
}

// warnOpenFiles warns when the store's database or key file may be read or
// written by other users of the machine: with both, anyone can open every
// app secret value (serve and the provider make them 0600).
func warnOpenFiles(log *slog.Logger, cfg embedded.Config) {
	db, key := embedded.Files(cfg)
	for _, f := range []string{db, key} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		log.Warn(fmt.Sprintf("%s has mode %04o: other users of this machine may read it; make it the service account's only (chmod 600 %s)",
			f, fi.Mode().Perm(), f), "file", f, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
}

// checkAdminEnv refuses an admin secret from APPHOST_ADMIN_KEY_SECRET that is
// too short or too uniform to withstand guessing.
func checkAdminEnv() error {
	if secret := os.Getenv(EnvAdminKeySecret); secret != "" {
		if err := core.CheckAdminSecret(EnvAdminKeySecret, secret); err != nil {
			return fmt.Errorf("%s (or unset %s and %s to have serve generate one)", err, EnvAdminKeyID, EnvAdminKeySecret)
		}
	}
	return nil
}

// bootstrapAdmin creates the admin account on a store that has none: from
// APPHOST_ADMIN_KEY_ID and APPHOST_ADMIN_KEY_SECRET when both are set, else
// generated and printed once to stdout (the one output that shows a secret).
func bootstrapAdmin(ctx context.Context, svc *core.Service, stdout io.Writer, log *slog.Logger) error {
	has, err := svc.HasAdminAccount(ctx)
	if err != nil {
		return fmt.Errorf("checking for an admin account: %w", err)
	}
	if has {
		return nil
	}
	id, secret := os.Getenv(EnvAdminKeyID), os.Getenv(EnvAdminKeySecret)
	fromEnv := id != "" || secret != ""
	if fromEnv {
		if id == "" || secret == "" {
			return fmt.Errorf("the store has no admin account and only one of %s and %s is set: set both, or neither to have one generated",
				EnvAdminKeyID, EnvAdminKeySecret)
		}
		if !backend.IsAccountID(id) {
			// Not echoed: it may be the secret, set in the wrong variable.
			return fmt.Errorf("%s must be a UUID, such as %s (36 characters, hex digits and hyphens)", EnvAdminKeyID, uuid.NewString())
		}
	} else {
		id, secret = uuid.NewString(), core.NewSecret()
	}
	// The account is the server's own doing, not Terraform's.
	ctx = core.WithActor(ctx, core.ActorServe)
	acct, err := svc.CreateAdminAccount(ctx, id, adminAccountName, secret)
	if backend.IsConflict(err) {
		// Another server on the same store may have just bootstrapped.
		if has, herr := svc.HasAdminAccount(ctx); herr == nil && has {
			return nil
		}
		acct, err = svc.CreateAdminAccount(ctx, id, adminAccountName+"-"+id[:8], secret)
	}
	if err != nil {
		return fmt.Errorf("creating the admin account: %w", err)
	}
	log.Info("created the admin API key account", "id", acct.ID, "name", acct.Name, "from_env", fromEnv)
	if !fromEnv {
		fmt.Fprintf(stdout, "Created the admin API key account %q. Its secret is shown only this once: store it now.\n"+
			"  APPHOST_API_KEY_ID=%s\n  APPHOST_API_KEY_SECRET=%s\n", acct.Name, acct.ID, secret)
	}
	return nil
}
