package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/local"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// Environment variables of the admin account bootstrap.
const (
	EnvAdminKeyID     = "APPHOST_ADMIN_KEY_ID"
	EnvAdminKeySecret = "APPHOST_ADMIN_KEY_SECRET"
)

// adminAccountName is the name of the bootstrapped admin account.
const adminAccountName = "admin"

// Bounds of the failed-login rate limit flags: a refill below a second or a
// burst in the thousands is no limit; a refill above a day is a lockout of the
// address.
const (
	maxLoginBurst  = 1000
	minLoginRefill = time.Second
	maxLoginRefill = 24 * time.Hour
)

// shutdownTimeout bounds the wait for requests in flight on SIGTERM/SIGINT.
const shutdownTimeout = 30 * time.Second

// runServe runs the admin backend over HTTP until SIGTERM or SIGINT (or ctx
// ends). Logs are JSON lines on stderr; stdout gets the listening address and,
// once, a generated admin secret.
func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("serve", "[--listen ADDR] [--store STORE] [--tls-cert FILE --tls-key FILE] [--login-burst N] [--login-refill DURATION]", stderr)
	var (
		sf          storeFlags
		listen      string
		tlsCert     string
		tlsKey      string
		threshold   int
		loginBurst  int
		loginRefill time.Duration
	)
	sf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&tlsCert, "tls-cert", "", "PEM certificate file; serves HTTPS with --tls-key")
	fs.StringVar(&tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.IntVar(&threshold, "lockout-threshold", backend.DefaultLockoutThreshold, "failed logins that lock an account")
	fs.IntVar(&loginBurst, "login-burst", server.DefaultFailedLoginBurst,
		"how many failed logins (`N`) one client address may make at once; past them it gets 429 and its attempts are not checked, so they count toward no lockout")
	fs.DurationVar(&loginRefill, "login-refill", server.DefaultFailedLoginRefill,
		"the time (a `DURATION` such as 20s or 1m) for a client address to get one more failed login back, up to --login-burst")
	if code := parse(fs, args); code >= 0 {
		return code
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
	if loginRefill < minLoginRefill || loginRefill > maxLoginRefill {
		fmt.Fprintf(stderr, "serve: --login-refill must be between %s and %s, such as 20s, got %s\n",
			minLoginRefill, maxLoginRefill, loginRefill)
		return exitUsage
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if loginBurst >= threshold {
		log.Warn("--login-burst is not below --lockout-threshold: one client address can lock an account in one burst of wrong secrets",
			"login_burst", loginBurst, "lockout_threshold", threshold)
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

	svc, err := local.Open(ctx, local.Config{Store: sf.store, KeyFile: sf.keyFile, LockoutThreshold: threshold})
	if err != nil {
		return fail("opening store %s: %v", redactStore(sf.store), err)
	}
	defer func() { _ = svc.Close() }()

	if err := bootstrapAdmin(ctx, svc, stdout, log); err != nil {
		return fail("%v", err)
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fail("listening on %s: %v", listen, err)
	}
	srv := &http.Server{
		Handler: server.New(server.Config{Backend: svc, Logger: log,
			FailedLogins: server.RateLimit{Burst: loginBurst, Refill: loginRefill}}),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: server.ReadHeaderTimeout,
		ReadTimeout:       server.ReadTimeout,
		WriteTimeout:      server.WriteTimeout,
		IdleTimeout:       server.IdleTimeout,
		MaxHeaderBytes:    server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	addr := ln.Addr().String()
	log.Info("serving", "address", addr, "scheme", scheme, "store", redactStore(sf.store))
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, addr)

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

// bootstrapAdmin creates the admin account on a store that has none: from
// APPHOST_ADMIN_KEY_ID and APPHOST_ADMIN_KEY_SECRET when both are set, else
// generated and printed once to stdout (the one output that shows a secret).
func bootstrapAdmin(ctx context.Context, svc *backend.Service, stdout io.Writer, log *slog.Logger) error {
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
		if _, err := uuid.Parse(id); err != nil {
			return fmt.Errorf("%s must be a UUID (such as %s), got %q", EnvAdminKeyID, uuid.NewString(), id)
		}
	} else {
		id = uuid.NewString()
		var b [32]byte // 256 bits, as every secret
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("generating the admin secret: %w", err)
		}
		secret = base64.RawURLEncoding.EncodeToString(b[:])
	}
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
