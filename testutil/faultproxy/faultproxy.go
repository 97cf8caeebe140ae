// Package faultproxy is a fault-injecting reverse proxy for tests: an
// http.Handler in front of a real server that fails chosen requests the way
// networks and servers fail (an error status, a reset connection, a response
// lost after the server did the work, an answer slower than the client's
// timeout) and counts every fault it injects.
package faultproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"sync"
	"time"
)

// Kind is what a rule does to a request it matches.
type Kind int

const (
	// Status answers with Rule.Status (500, 503...) without forwarding: the
	// server never sees the request.
	Status Kind = iota + 1
	// Reset closes the connection without forwarding or answering.
	Reset
	// DropResponse forwards the request, lets the server finish it, then
	// closes the connection instead of answering: the work is done, the
	// client sees a transport error.
	DropResponse
	// Delay forwards the request (the server does the work) and holds the
	// answer for Rule.Delay, past the client's timeout if it is longer.
	Delay
)

func (k Kind) String() string {
	switch k {
	case Status:
		return "status"
	case Reset:
		return "reset"
	case DropResponse:
		return "drop-response"
	case Delay:
		return "delay"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Rule injects one kind of fault into the requests it matches.
type Rule struct {
	// Method matches the request method; "" matches any.
	Method string
	// Path is a path.Match pattern such as "/v1/accounts/*/regenerate".
	Path string
	// Nth is the first matching request (1-based) to fail; 0 means 1.
	Nth int
	// Times is how many matching requests fail from the Nth on; 0 means 1,
	// negative means every one.
	Times int
	Kind  Kind
	// Status is the status of a Status fault; 0 means 503.
	Status int
	// Delay is the hold of a Delay fault.
	Delay time.Duration
}

// Fault is one injected fault, for the test's log.
type Fault struct {
	Kind   Kind
	Method string
	Path   string
}

// Request is one request the proxy saw.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Fault is the fault injected into it; 0 when it was passed through.
	Fault Kind
}

type rule struct {
	Rule
	seen int // matching requests so far
}

// Proxy is the fault-injecting handler. It is safe for concurrent use.
type Proxy struct {
	rp *httputil.ReverseProxy

	mu       sync.Mutex
	rules    []*rule
	faults   []Fault
	requests []Request
}

// New returns a proxy to the server at target (such as an httptest URL).
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	return &Proxy{rp: rp}, nil
}

// Add installs a rule. Rules are tried in order; the first that fires wins.
func (p *Proxy) Add(r Rule) {
	if r.Nth <= 0 {
		r.Nth = 1
	}
	if r.Times == 0 {
		r.Times = 1
	}
	if r.Status == 0 {
		r.Status = http.StatusServiceUnavailable
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &rule{Rule: r})
}

// Faults returns the faults injected so far.
func (p *Proxy) Faults() []Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Fault(nil), p.faults...)
}

// Requests returns the requests seen so far that match method and the
// path.Match pattern ("" matches any method).
func (p *Proxy) Requests(method, pattern string) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Request
	for _, r := range p.requests {
		if matches(method, pattern, r.Method, r.Path) {
			out = append(out, r)
		}
	}
	return out
}

func matches(method, pattern, gotMethod, gotPath string) bool {
	if method != "" && method != gotMethod {
		return false
	}
	ok, err := path.Match(pattern, gotPath)
	return err == nil && ok
}

// pick counts r against every matching rule and returns the fault to inject.
func (p *Proxy) pick(r *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	var fire *Rule
	for _, ru := range p.rules {
		if !matches(ru.Method, ru.Path, r.Method, r.URL.Path) {
			continue
		}
		ru.seen++
		if fire == nil && ru.seen >= ru.Nth && (ru.Times < 0 || ru.seen < ru.Nth+ru.Times) {
			f := ru.Rule
			fire = &f
		}
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	if fire != nil {
		req.Fault = fire.Kind
		p.faults = append(p.faults, Fault{Kind: fire.Kind, Method: r.Method, Path: r.URL.Path})
	}
	p.requests = append(p.requests, req)
	return fire
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := p.pick(r)
	if f == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch f.Kind {
	case Status:
		w.Header().Set("Content-Type", "application/json")
		if f.Status == http.StatusServiceUnavailable || f.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"error":{"code":"unavailable","message":"injected fault: HTTP %d"}}`+"\n", f.Status)
	case Reset:
		_, _ = io.Copy(io.Discard, r.Body)
		hangUp(w)
	case DropResponse:
		// The server finishes the request even though the client will never
		// hear of it.
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		hangUp(w)
	case Delay:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return // the client gave up
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = io.Copy(w, bytes.NewReader(rec.Body.Bytes()))
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// hangUp closes the client's connection with a TCP reset, answering nothing.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2 and the like: abort the stream
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
