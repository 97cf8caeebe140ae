// Package client is the HTTP client of a remote apphost admin backend. It
// implements backend.Backend over the server's /v1 JSON API, so the provider
// uses a remote backend exactly as it uses the embedded one.
//
// Retries: connection failures, 502/503/504 and 429 are retried (honouring
// Retry-After) for requests that are safe to repeat; other 4xx never are.
// What is safe to repeat:
//   - GET, PUT and DELETE, and deploy/undeploy (they set a desired state);
//   - regenerate, because every call carries an Idempotency-Key (one is
//     generated per call when the request has none), so a repeat returns the
//     first result instead of rotating twice;
//   - creates and login only while the request surely never reached the
//     server (the connection could not be made) or the server said 429 (it
//     did not process it). A create repeated after the server may have run it
//     would at best fail with a name conflict and lose the shown-once secret;
//     a repeated failed login would count twice toward the lockout.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	cleanhttp "github.com/hashicorp/go-cleanhttp"
	retryablehttp "github.com/hashicorp/go-retryablehttp"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var _ backend.Backend = (*Client)(nil)

// Defaults.
const (
	DefaultUserAgent = "terraform-provider-apphost"
	// DefaultRetryMax is the number of retries when Config.RetryMax is 0.
	DefaultRetryMax = 4
	// DefaultTimeout bounds one attempt. A regenerate runs the App Host
	// runtime on the server, so it is generous.
	DefaultTimeout = 2 * time.Minute
)

// Logger receives the retry library's log lines (method, redacted URL,
// attempt; never a header or body). retryablehttp.LeveledLogger satisfies it;
// the provider adapts tflog to it.
type Logger = retryablehttp.LeveledLogger

// The fields of Config that New's errors (a *backend.Error with CodeInvalid)
// name, as the provider's attributes spell them.
const (
	FieldEndpoint = "endpoint"
	FieldCAFile   = "ca_file"
)

// Config configures a Client.
type Config struct {
	// Endpoint is the server's base URL, such as https://apphost.example:8443.
	Endpoint string
	// APIKeyID and APIKeySecret are an admin API key account's credentials,
	// sent as HTTP Basic auth.
	APIKeyID     string
	APIKeySecret string
	// CAFile is a PEM bundle of CAs to trust in addition to the system's.
	CAFile             string
	InsecureSkipVerify bool
	// UserAgent is sent with every request; empty means DefaultUserAgent.
	UserAgent string
	// Logger, when set, receives request and retry logs.
	Logger Logger
	// RetryMax is the number of retries: 0 means DefaultRetryMax, negative none.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff; zero means 500ms and 10s.
	RetryWaitMin, RetryWaitMax time.Duration
	// Timeout bounds one attempt; zero means DefaultTimeout.
	Timeout time.Duration
}

// Client is a remote backend.Backend. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	endpoint  string
	id        string
	secret    string
	userAgent string
	retryMax  int
	http      *retryablehttp.Client
}

// New returns a Client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	switch {
	case cfg.Endpoint == "":
		return nil, backend.InvalidField(FieldEndpoint, "the endpoint is empty: set it to the URL of the apphost server, "+
			"such as https://apphost.example.com:8443")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, backend.InvalidField(FieldEndpoint, "the endpoint %q is not an http:// or https:// URL with a host: "+
			"set it to the URL of the apphost server, such as https://apphost.example.com:8443", cfg.Endpoint)
	case u.User != nil:
		// The URL is not repeated: it holds a password.
		return nil, backend.InvalidField(FieldEndpoint, "the endpoint holds credentials: remove them from the URL and "+
			"set api_key_id and api_key_secret instead")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""

	transport := cleanhttp.DefaultPooledTransport()
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, &backend.Error{Code: backend.CodeInvalid, Field: FieldCAFile, Err: err,
				Message: "the CA file could not be read: set ca_file to a readable PEM file of the CAs that sign the server's certificate"}
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, backend.InvalidField(FieldCAFile, "the CA file %s holds no PEM certificate: set ca_file to a PEM file "+
				"of the CAs that sign the server's certificate", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	// #nosec G402 -- only on explicit request, for test setups.
	tlsConfig.InsecureSkipVerify = cfg.InsecureSkipVerify
	transport.TLSClientConfig = tlsConfig

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: checkRedirect}
	rc.Logger = nil
	if cfg.Logger != nil {
		rc.Logger = cfg.Logger
	}
	switch {
	case cfg.RetryMax < 0:
		rc.RetryMax = 0
	case cfg.RetryMax == 0:
		rc.RetryMax = DefaultRetryMax
	default:
		rc.RetryMax = cfg.RetryMax
	}
	rc.RetryWaitMin, rc.RetryWaitMax = 500*time.Millisecond, 10*time.Second
	if cfg.RetryWaitMin > 0 {
		rc.RetryWaitMin = cfg.RetryWaitMin
	}
	if cfg.RetryWaitMax > 0 {
		rc.RetryWaitMax = cfg.RetryWaitMax
	}
	rc.CheckRetry = checkRetry
	rc.Backoff = retryablehttp.DefaultBackoff // honours Retry-After on 429 and 503
	// Hand back the last response (or error) instead of the library's
	// generic "giving up" error, so the server's JSON error reaches the caller.
	rc.ErrorHandler = func(resp *http.Response, err error, _ int) (*http.Response, error) {
		if resp != nil {
			return resp, nil
		}
		return nil, err
	}

	ua := cfg.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	return &Client{
		base:      u,
		endpoint:  u.String(),
		id:        cfg.APIKeyID,
		secret:    cfg.APIKeySecret,
		userAgent: ua,
		retryMax:  rc.RetryMax,
		http:      rc,
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.HTTPClient.CloseIdleConnections()
	return nil
}

// retryClass says how safe a request is to repeat.
type retryClass int

const (
	// retrySafe requests may be repeated after any transient failure.
	retrySafe retryClass = iota
	// retryUnsent requests are repeated only when they never reached the server.
	retryUnsent
)

type retryClassKey struct{}

func classOf(ctx context.Context) retryClass {
	if c, ok := ctx.Value(retryClassKey{}).(retryClass); ok {
		return c
	}
	return retrySafe
}

// checkRetry is the retry policy described in the package comment.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if once, _ := ctx.Value(noRetryKey{}).(bool); once {
		return false, nil
	}
	class := classOf(ctx)
	if err != nil {
		if !transient(err) {
			return false, nil
		}
		return class == retrySafe || neverSent(err), nil
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		// The server did not process it; but a client past its failed-login
		// budget has wrong credentials (right ones still pass), and no wait
		// makes them right.
		return !rateLimitedLogin(resp), nil
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return class == retrySafe, nil
	}
	return false, nil
}

// rateLimitedLogin reports whether a 429 is the server's failed-login limit
// (error code rate_limited), leaving the body readable.
func rateLimitedLogin(resp *http.Response) bool {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	var body struct {
		Error *backend.Error `json:"error"`
	}
	return json.Unmarshal(raw, &body) == nil && body.Error != nil && body.Error.Code == backend.CodeRateLimited
}

// maxRedirects is how many redirects a request follows, as net/http's default.
const maxRedirects = 10

// errTooManyRedirects ends a redirect loop; it is never retried.
var errTooManyRedirects = errors.New("stopped after too many redirects: check that the endpoint is the apphost server's URL")

func checkRedirect(_ *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errTooManyRedirects
	}
	return nil
}

// transient reports whether a transport error may go away on its own, by
// its type: a network error (refused, reset, timed out, a name not
// resolved), a system call's error, or a connection closed mid-answer. A
// failed TLS verification, a plain-HTTP answer to TLS and a redirect loop
// will not.
func transient(err error) bool {
	if certificateError(err) || plainHTTP(err) || errors.Is(err, errTooManyRedirects) {
		return false
	}
	// net/http wraps every failure in a *url.Error, itself a net.Error:
	// judge what it wraps.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		netErr net.Error
		errno  syscall.Errno
	)
	return errors.As(err, &netErr) || errors.As(err, &errno) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// certificateError reports whether err is a failed verification of the
// server's certificate.
func certificateError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify)
}

// plainHTTP reports whether err says the server answered a TLS handshake
// with something else, such as plain HTTP.
func plainHTTP(err error) bool {
	var recordHeader tls.RecordHeaderError
	return errors.As(err, &recordHeader) || errors.Is(err, http.ErrSchemeMismatch)
}

// neverSent reports whether err happened before the request could reach the
// server: the connection was never made.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// outcomeUnknown wraps a transport failure of a call that is not repeated
// once it may have reached the server: whether the server did it is unknown.
func (c *Client) outcomeUnknown(k call, err error) error {
	what := k.unknownOutcome
	if what == "" {
		what = "check the server's state before trying again"
	}
	return &backend.Error{Code: backend.CodeUnavailable, Err: err, Message: fmt.Sprintf(
		"the connection to the apphost server at %s failed after %s %s was sent, so whether the server did it is unknown; "+
			"it was not repeated, since a repeat is not safe: %s", c.endpoint, k.method, k.path, what)}
}

// unreachable wraps a transport failure that outlived the retries.
func (c *Client) unreachable(ctx context.Context, err error) error {
	tries := c.retryMax + 1
	if once, _ := ctx.Value(noRetryKey{}).(bool); once {
		tries = 1
	}
	attempts := fmt.Sprintf("tried %d times", tries)
	if tries == 1 {
		attempts = "tried once"
	}
	msg := fmt.Sprintf("the apphost server at %s could not be reached (%s); "+
		"check the endpoint, that the server is running, and the network between", c.endpoint, attempts)
	switch {
	case plainHTTP(err):
		msg = fmt.Sprintf("the apphost server at %s does not answer TLS (it may serve plain HTTP); "+
			"use an http:// endpoint, or start the server with --tls-cert and --tls-key", c.endpoint)
	case certificateError(err):
		msg = fmt.Sprintf("the apphost server at %s presented a TLS certificate that could not be verified (not retried); "+
			"set ca_file to the PEM file of the CA that signed it, or fix the server's certificate "+
			"(it must be valid now and name the endpoint's host)", c.endpoint)
	}
	return &backend.Error{Code: backend.CodeUnavailable, Message: msg, Err: err}
}
