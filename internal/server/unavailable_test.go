package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// tcpRelay forwards loopback connections to a database, and can be cut to
// make the database unreachable for the server behind it.
type tcpRelay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newTCPRelay(t *testing.T, target string) *tcpRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tcpRelay{ln: ln, target: target}
	go r.serve()
	t.Cleanup(r.cut)
	return r
}

func (r *tcpRelay) serve() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", r.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, in, out)
		r.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

// cut closes the listener and every relayed connection: the database is down.
func (r *tcpRelay) cut() {
	_ = r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}

// A database that goes down gives 503 with the retryable code "unavailable"
// (never a panic, never a 401 that would send the caller after its
// credentials), and the client turns it into backend.IsUnavailable.
func TestDatabaseDownIs503(t *testing.T) {
	store := backendtest.PostgresStore(t)
	u, err := url.Parse(store)
	if err != nil {
		t.Fatal(err)
	}
	relay := newTCPRelay(t, u.Host)
	u.Host = relay.ln.Addr().String()
	svc := backendtest.Open(t, u.String(), "")
	admin := backendtest.Bootstrap(t, svc)
	endpoint := backendtest.Serve(t, svc)
	c := backendtest.NewClient(t, endpoint, admin)

	ctx := context.Background()
	if _, err := c.ListAccounts(ctx, backend.ListAccountsRequest{}); err != nil {
		t.Fatalf("with the database up: %v", err)
	}

	relay.cut()

	for _, target := range []string{"/v1/accounts", "/healthz"} {
		resp := backendtest.Do(t, http.MethodGet, endpoint+target, &admin, nil, nil)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the database down: status %d, want 503: %s", target, resp.StatusCode, body)
			continue
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s: 503 without Retry-After", target)
		}
		if target == "/healthz" {
			continue
		}
		var e struct {
			Error backend.Error `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != backend.CodeUnavailable {
			t.Errorf("GET %s: error body %s, want code %q", target, body, backend.CodeUnavailable)
		}
	}

	start := time.Now()
	_, err = c.GetAccount(ctx, admin.ID)
	if !backend.IsUnavailable(err) {
		t.Errorf("client with the database down: %v, want an unavailable error", err)
	}
	t.Logf("the client gave up after %s: %v", time.Since(start).Round(time.Millisecond), err)
}
