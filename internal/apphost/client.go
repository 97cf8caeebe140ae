package apphost

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cleanhttp "github.com/hashicorp/go-cleanhttp"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// Timing of the protocol client.
const (
	// requestTimeout bounds a call other than the long poll.
	requestTimeout = 10 * time.Second
	// pollWait is how long one long poll of the desired state may wait on
	// the server (which caps it at 30 s); pollSlack is what the answer may
	// take beyond it before the host gives the server up and fails over.
	pollWait  = 25 * time.Second
	pollSlack = 10 * time.Second
	// minBackoff and maxBackoff bound the wait before a retry.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// maxRetryAfter bounds a server's Retry-After.
	maxRetryAfter = 30 * time.Second
	// maxBody bounds an answer the host reads.
	maxBody = 64 << 20
)

// serverError is an answer of the server that is not a success.
type serverError struct {
	endpoint string
	status   int
	code     string
	message  string
	// retryAfter is the server's Retry-After, if any.
	retryAfter time.Duration
}

func (e *serverError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d %s: %s", e.endpoint, e.status, e.code, e.message)
}

// transient: another try (at another endpoint, or later) may succeed.
func (e *serverError) transient() bool {
	return e.status >= 500 || e.status == http.StatusTooManyRequests || e.status == http.StatusRequestTimeout
}

// unreachable is a call that reached no server (a connection error, a
// timeout): another endpoint or a later try may succeed.
type unreachable struct {
	endpoint string
	err      error
}

func (e *unreachable) Error() string { return fmt.Sprintf("%s: %v", e.endpoint, e.err) }
func (e *unreachable) Unwrap() error { return e.err }

// isTransient reports whether err may pass by itself.
func isTransient(err error) bool {
	var se *serverError
	if errors.As(err, &se) {
		return se.transient()
	}
	var ue *unreachable
	return errors.As(err, &ue)
}

// codeOf is the error code of a server's refusal, or "".
func codeOf(err error) string {
	var se *serverError
	if errors.As(err, &se) {
		return se.code
	}
	return ""
}

// fatal reports whether err says that the host's configuration is wrong
// (its credentials, its name, its account, plain http): retrying cannot help.
func fatal(err error) bool {
	var se *serverError
	if !errors.As(err, &se) {
		return false
	}
	switch se.status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusLocked:
		return true
	}
	return false
}

// retryAfterOf is the wait a server asked for, or 0.
func retryAfterOf(err error) time.Duration {
	var se *serverError
	if errors.As(err, &se) {
		return se.retryAfter
	}
	return 0
}

// client speaks the App Host protocol (package hostapi) to the servers at
// its endpoints: the one that answered last, and on a connection error or
// a 5xx the next.
type client struct {
	name      string
	endpoints []string // base URLs, without a trailing '/'
	keyID     string
	secret    string
	userAgent string
	http      *http.Client
	log       *slog.Logger

	mu  sync.Mutex
	cur int // the endpoint to try first
}

func newClient(cfg Config, log *slog.Logger) (*client, error) {
	transport := cleanhttp.DefaultPooledTransport()
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport.TLSClientConfig = tlsConfig
	// Many apps of a virtual host log in at once.
	transport.MaxIdleConnsPerHost = 64
	c := &client{
		name:      cfg.Name,
		keyID:     cfg.KeyID,
		secret:    cfg.Secret,
		userAgent: "terraform-provider-apphost-host/" + cfg.Version,
		http:      &http.Client{Transport: transport},
		log:       log,
	}
	for _, e := range cfg.Endpoints {
		c.endpoints = append(c.endpoints, strings.TrimSuffix(e, "/"))
	}
	return c, nil
}

// checkEndpoint refuses what is no server base URL, and plain http:// to
// anything but loopback: the host's secret (in every call) and its apps'
// secrets (in its desired state) would cross the network in clear.
func checkEndpoint(e string) error {
	u, err := url.Parse(e)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return fmt.Errorf("endpoint %q is not an http:// or https:// URL such as https://apphost.example:8443", e)
	case u.User != nil:
		return fmt.Errorf("endpoint %q holds credentials: give the App Host account's key ID with --key-id (or APPHOST_API_KEY_ID) and its secret with --secret-file", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("endpoint %q has a query or fragment: give the server's base URL only", e)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return fmt.Errorf("endpoint %q is plain http:// to a machine other than this one: the App Host's secret and its apps' "+
			"secrets would cross the network in clear, and the server refuses it anyway. Serve with --tls-cert and --tls-key, "+
			"and give the App Host the https:// URL and --ca-file", e)
	}
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// call is one request to the servers.
type call struct {
	method, path string
	query        url.Values
	body         any
	out          any
	timeout      time.Duration
	// basicAuth: as the App Host account (every protocol call); false for
	// an app's login (the virtual driver's).
	basicAuth bool
	header    http.Header
}

// do sends k to the endpoint that answered last, and on a transient
// failure to each other endpoint in turn; it returns the last failure when
// none answered. It never retries after a wait: its callers do.
func (c *client) do(ctx context.Context, k call) error {
	var body []byte
	if k.body != nil {
		var err error
		if body, err = json.Marshal(k.body); err != nil {
			return err
		}
	}
	c.mu.Lock()
	first := c.cur
	c.mu.Unlock()
	var last error
	for i := range c.endpoints {
		n := (first + i) % len(c.endpoints)
		err := c.once(ctx, c.endpoints[n], k, body)
		if err == nil || !isTransient(err) || ctx.Err() != nil {
			if err == nil || !isTransient(err) {
				c.mu.Lock()
				c.cur = n // it answered
				c.mu.Unlock()
			}
			return err
		}
		last = err
		if len(c.endpoints) > 1 {
			c.log.Warn("server did not answer; trying the next endpoint", "error", err.Error())
		}
	}
	return last
}

func (c *client) once(ctx context.Context, endpoint string, k call, body []byte) error {
	timeout := k.timeout
	if timeout <= 0 {
		timeout = requestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := endpoint + k.path
	if len(k.query) > 0 {
		target += "?" + k.query.Encode()
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, target, r)
	if err != nil {
		return err
	}
	for name, v := range k.header {
		req.Header[name] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if k.basicAuth {
		req.SetBasicAuth(c.keyID, c.secret)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which the error names once
		}
		return &unreachable{endpoint: endpoint, err: err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(endpoint, resp)
	}
	if k.out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(k.out); err != nil {
		// A proxy's page, or a cut answer: another server may do better.
		return &unreachable{endpoint: endpoint, err: fmt.Errorf("the answer (HTTP %d) is not the expected JSON: %w; "+
			"check that the endpoint is an apphost server", resp.StatusCode, err)}
	}
	return nil
}

// readError reads the server's JSON error ({"error":{"code","message"}}).
func readError(endpoint string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &serverError{endpoint: endpoint, status: resp.StatusCode, code: "http_" + strconv.Itoa(resp.StatusCode),
		message: http.StatusText(resp.StatusCode)}
	var body struct {
		Error *backend.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err == nil && body.Error != nil && body.Error.Code != "" {
		e.code, e.message = body.Error.Code, body.Error.Message
	}
	if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
		e.retryAfter = min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	return e
}

func (c *client) hostPath(what string) string {
	return "/v1/app-hosts/" + url.PathEscape(c.name) + "/" + what
}

// openSession opens a session of the host's instance.
func (c *client) openSession(ctx context.Context, req hostapi.SessionRequest) (*hostapi.Session, error) {
	var s hostapi.Session
	err := c.do(ctx, call{method: http.MethodPost, path: c.hostPath("sessions"), body: req, out: &s, basicAuth: true})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// desired long-polls the desired state: it answers when the revision is
// newer than after, or after wait with the current one.
func (c *client) desired(ctx context.Context, session string, after int64, wait time.Duration) (*hostapi.Desired, error) {
	q := url.Values{}
	q.Set("session", session)
	q.Set("after", strconv.FormatInt(after, 10))
	q.Set("wait_ms", strconv.FormatInt(wait.Milliseconds(), 10))
	var d hostapi.Desired
	err := c.do(ctx, call{method: http.MethodGet, path: c.hostPath("desired"), query: q, out: &d,
		timeout: wait + pollSlack, basicAuth: true})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// report sends a report within timeout (per endpoint).
func (c *client) report(ctx context.Context, r hostapi.Report, timeout time.Duration) (*hostapi.ReportAnswer, error) {
	var a hostapi.ReportAnswer
	err := c.do(ctx, call{method: http.MethodPost, path: c.hostPath("reports"), body: r, out: &a, timeout: timeout, basicAuth: true})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// backoff is an exponential backoff with jitter.
type backoff struct{ cur time.Duration }

// next is the wait before the next try.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = minBackoff
	} else {
		b.cur = min(2*b.cur, maxBackoff)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
