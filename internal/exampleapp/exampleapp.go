// Package exampleapp is `terraform-provider-apphost example-app`: the
// reference app that an App Host runs, written the way a SOAR app is. It
// reads app.config and its secret files in $APPHOST_APP_DIR, and for each
// bound secret (an app.config line NAME_api_key_id = ID, its secret in
// secrets/NAME) logs in to the server at $APPHOST_ENDPOINT, saying which app
// it is ($APPHOST_APP_NAME, $APPHOST_APP_TOKEN), and logs in again every
// login_interval (app.config, default 5s).
//
// A login rejected for its secret (401, or any other 4xx but 408 and 429)
// ends the app with a non-zero exit status and a stderr line that says
// which secret; a 408, a 429, a 5xx or a failed connection is retried with
// a backoff, so that a server restart stops no app. On SIGHUP the app
// rereads its files and logs in with them at once; on SIGTERM it exits 0.
// It opens no store.
package exampleapp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cleanhttp "github.com/hashicorp/go-cleanhttp"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/appconfig"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// The environment an App Host gives its apps.
const (
	EnvEndpoint = "APPHOST_ENDPOINT"
	EnvAppName  = "APPHOST_APP_NAME"
	EnvAppDir   = "APPHOST_APP_DIR"
	EnvAppToken = "APPHOST_APP_TOKEN"
	EnvCAFile   = "APPHOST_CA_FILE"
)

// KeyLoginInterval is the app.config key of the time between logins.
const KeyLoginInterval = "login_interval"

// Defaults.
const (
	DefaultLoginInterval = 5 * time.Second
	minBackoff           = 100 * time.Millisecond
	maxBackoff           = 5 * time.Second
	maxRetryAfter        = 30 * time.Second
	requestTimeout       = 10 * time.Second
)

// Exit statuses.
const (
	ExitOK       = 0
	ExitRejected = 1 // a login was rejected, or the files are wrong
)

const prog = "example-app"

// Run runs the app until ctx ends (exit 0) or a login is rejected. getenv
// reads its environment; a value on reload asks it to reread its files.
func Run(ctx context.Context, getenv func(string) string, reload <-chan os.Signal, stdout, stderr io.Writer) int {
	a, err := newApp(getenv, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return ExitRejected
	}
	if err := a.load(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return ExitRejected
	}
	if len(a.logins) == 0 {
		fmt.Fprintf(stdout, "%s: %s has no bound secret (no NAME%s line): nothing to log in with\n", prog, appconfig.FileName, appconfig.KeyIDSuffix)
	}
	for {
		for i := 0; i < len(a.logins); i++ {
			switch err := a.loginWithRetry(ctx, reload, a.logins[i]); {
			case errors.Is(err, errStop):
				return ExitOK
			case errors.Is(err, errReloaded):
				i = -1 // log in with every reread secret
			case err != nil:
				fmt.Fprintf(stderr, "%s: %v\n", prog, err)
				return ExitRejected
			}
		}
		switch err := a.wait(ctx, reload, a.interval); {
		case errors.Is(err, errStop):
			return ExitOK
		case errors.Is(err, errReloaded):
			// Log in with the reread files at once.
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
			return ExitRejected
		}
	}
}

var (
	errStop     = errors.New("stop")
	errReloaded = errors.New("reloaded")
)

// app is the running app's state.
type app struct {
	name, token, dir string
	endpoints        []string
	next             int // the endpoint to use
	client           *http.Client
	stdout, stderr   io.Writer

	interval time.Duration
	logins   []login
}

// login is one bound secret.
type login struct {
	name      string // the secret's name: secrets/NAME
	accountID string
	secret    string
	ok        bool // the last login with it succeeded (to say so once)
}

func newApp(getenv func(string) string, stdout, stderr io.Writer) (*app, error) {
	a := &app{
		name: getenv(EnvAppName), token: getenv(EnvAppToken), dir: getenv(EnvAppDir),
		stdout: stdout, stderr: stderr,
	}
	if a.dir == "" {
		return nil, fmt.Errorf("%s is not set: an App Host (terraform-provider-apphost host) starts this app and sets it to the app's directory", EnvAppDir)
	}
	for u := range strings.SplitSeq(getenv(EnvEndpoint), ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("%s holds %q, which is not an http:// or https:// URL", EnvEndpoint, u)
		}
		a.endpoints = append(a.endpoints, strings.TrimSuffix(u, "/"))
	}
	if len(a.endpoints) == 0 {
		return nil, fmt.Errorf("%s is not set: it is the URL of the apphost server the app logs in to", EnvEndpoint)
	}
	transport := cleanhttp.DefaultPooledTransport()
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if f := getenv(EnvCAFile); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", EnvCAFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s (%s) holds no PEM certificate", EnvCAFile, f)
		}
		tlsConfig.RootCAs = pool
	}
	transport.TLSClientConfig = tlsConfig
	a.client = &http.Client{Transport: transport, Timeout: requestTimeout}
	return a, nil
}

// load reads app.config and the secret files of the bound secrets.
func (a *app) load() error {
	b, err := os.ReadFile(filepath.Join(a.dir, appconfig.FileName))
	if err != nil {
		return fmt.Errorf("reading %s: %w", appconfig.FileName, err)
	}
	settings, err := appconfig.Parse(b)
	if err != nil {
		return err
	}
	interval := DefaultLoginInterval
	if v, ok := settings[KeyLoginInterval]; ok {
		if interval, err = time.ParseDuration(v); err != nil || interval <= 0 {
			return fmt.Errorf("%s: %s = %q is not a positive duration such as 5s", appconfig.FileName, KeyLoginInterval, v)
		}
	}
	bound := appconfig.Bound(settings)
	names := make([]string, 0, len(bound))
	for name := range bound {
		names = append(names, name)
	}
	slices.Sort(names)
	logins := make([]login, 0, len(names))
	for _, name := range names {
		rel := filepath.Join(appconfig.SecretsDir, name)
		if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return fmt.Errorf("%s: %s names no secret file", appconfig.FileName, appconfig.KeyIDKey(name))
		}
		s, err := os.ReadFile(filepath.Join(a.dir, rel))
		if err != nil {
			return fmt.Errorf("reading the secret of API key account %s: %w", bound[name], err)
		}
		secret := strings.TrimRight(string(s), "\r\n")
		if secret == "" {
			return fmt.Errorf("%s is empty: it should hold the secret of API key account %s", rel, bound[name])
		}
		logins = append(logins, login{name: name, accountID: bound[name], secret: secret})
	}
	a.interval, a.logins = interval, logins
	return nil
}

// wait waits for d; errStop when ctx ends, errReloaded after a reload.
func (a *app) wait(ctx context.Context, reload <-chan os.Signal, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errStop
	case <-reload:
		if err := a.load(); err != nil {
			return fmt.Errorf("rereading the files on reload: %w", err)
		}
		fmt.Fprintf(a.stdout, "%s: reloaded %s and %d secret file(s)\n", prog, appconfig.FileName, len(a.logins))
		return errReloaded
	case <-t.C:
		return nil
	}
}

// rejected is a login the server refused for its credentials: retrying it
// would only add failed logins, which may lock the account.
type rejected struct {
	l      *login
	status int
	code   string
	msg    string
}

func (e *rejected) Error() string {
	return fmt.Sprintf("the server rejected the secret in %s for API key account %s (HTTP %d %s: %s); exiting",
		filepath.Join(appconfig.SecretsDir, e.l.name), e.l.accountID, e.status, e.code, e.msg)
}

// loginWithRetry logs in with l until it succeeds or is rejected, waiting a
// backoff between tries.
func (a *app) loginWithRetry(ctx context.Context, reload <-chan os.Signal, l login) error {
	backoff := minBackoff
	for {
		wait, err := a.loginOnce(ctx, &l)
		if err == nil {
			a.markOK(l.name, true)
			return nil
		}
		var rej *rejected
		if errors.As(err, &rej) {
			return err
		}
		if ctx.Err() != nil {
			return errStop
		}
		a.markOK(l.name, false)
		if wait <= 0 {
			// Jitter, so that the apps of a restarted server do not all
			// come back at the same instant.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, maxBackoff)
		}
		fmt.Fprintf(a.stderr, "%s: login as API key account %s: %v; retrying in %s\n", prog, l.accountID, err, wait.Round(time.Millisecond))
		if err := a.wait(ctx, reload, wait); err != nil {
			return err
		}
	}
}

func (a *app) markOK(name string, ok bool) {
	for i := range a.logins {
		if a.logins[i].name == name {
			if ok && !a.logins[i].ok {
				fmt.Fprintf(a.stdout, "%s: %s logged in as API key account %s\n", prog, a.displayName(), a.logins[i].accountID)
			}
			a.logins[i].ok = ok
		}
	}
}

func (a *app) displayName() string {
	if a.name == "" {
		return "the app"
	}
	return "app " + a.name
}

// loginOnce makes one login request. It returns a *rejected error when the
// server refused the credentials, another error to retry (after the wait the
// server asked for, when it did).
func (a *app) loginOnce(ctx context.Context, l *login) (time.Duration, error) {
	body, err := json.Marshal(backend.LoginRequest{AccountID: l.accountID, Secret: l.secret})
	if err != nil {
		return 0, err
	}
	endpoint := a.endpoints[a.next%len(a.endpoints)]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/v1/login", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "terraform-provider-apphost-example-app")
	if a.name != "" {
		req.Header.Set(hostapi.HeaderApp, a.name)
	}
	if a.token != "" {
		req.Header.Set(hostapi.HeaderAppToken, a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.next++ // try the next server
		return 0, fmt.Errorf("%s: %w", endpoint, unwrapURLError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return 0, nil
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("%s answered %d %s", endpoint, s, errorText(b))
	case s >= 500:
		a.next++
		return retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("%s answered %d %s", endpoint, s, errorText(b))
	default:
		code, msg := errorBody(b)
		return 0, &rejected{l: l, status: s, code: code, msg: msg}
	}
}

// unwrapURLError drops the *url.Error wrapper, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// errorBody reads the server's JSON error ({"error":{"code","message"}}).
func errorBody(b []byte) (code, msg string) {
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil {
		return "error", strings.TrimSpace(string(b))
	}
	return e.Error.Code, e.Error.Message
}

func errorText(b []byte) string {
	code, msg := errorBody(b)
	if msg == "" {
		return code
	}
	return code + ": " + msg
}
