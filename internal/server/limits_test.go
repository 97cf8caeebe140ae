package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// TestRequestLimits: each limit on what one request may carry, over a real
// listener built with the recommended settings: headers (431), body (413),
// config entries and value sizes (422 naming the field), and the
// Idempotency-Key length (400).
func TestRequestLimits(t *testing.T) {
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	admin := backendtest.Bootstrap(t, svc)
	srv := httptest.NewUnstartedServer(server.New(server.Config{
		Backend: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBodyBytes: server.DefaultMaxBodyBytes,
	}))
	srv.Config.MaxHeaderBytes = server.MaxHeaderBytes
	srv.Config.ReadHeaderTimeout = server.ReadHeaderTimeout
	srv.Start()
	t.Cleanup(srv.Close)

	do := func(method, path, body string, header http.Header) (*http.Response, string) {
		t.Helper()
		resp := backendtest.Do(t, method, srv.URL+path, &admin, strings.NewReader(body), header)
		raw, _ := io.ReadAll(resp.Body)
		return resp, string(raw)
	}

	t.Run("header size", func(t *testing.T) {
		// Go's server allows MaxHeaderBytes plus 4096 bytes of slack.
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", server.MaxHeaderBytes+8192))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("a %d-byte header: %d, want 431", server.MaxHeaderBytes+8192, resp.StatusCode)
		}
		// Just under the limit passes.
		r, _ := do("GET", "/healthz", "", http.Header{"X-Big": {strings.Repeat("a", server.MaxHeaderBytes/2)}})
		if r.StatusCode != 200 {
			t.Fatalf("a header of half the limit: %d", r.StatusCode)
		}
	})

	t.Run("body size", func(t *testing.T) {
		big := `{"name":"x","description":"` + strings.Repeat("d", server.DefaultMaxBodyBytes) + `"}`
		r, raw := do("POST", "/v1/accounts", big, nil)
		if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(raw, "larger than") {
			t.Fatalf("a %d-byte body: %d %s", len(big), r.StatusCode, raw)
		}
	})

	t.Run("config entries", func(t *testing.T) {
		cfg := map[string]string{}
		for i := range backend.MaxConfigEntries + 1 {
			cfg[fmt.Sprintf("k%d", i)] = "v"
		}
		b, _ := json.Marshal(map[string]any{"name": "too-many", "config": cfg})
		r, raw := do("POST", "/v1/apps", string(b), nil)
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(raw, `"field":"config"`) {
			t.Fatalf("%d config entries: %d %s", len(cfg), r.StatusCode, raw)
		}
		delete(cfg, "k0")
		b, _ = json.Marshal(map[string]any{"name": "just-enough", "config": cfg})
		if r, raw := do("POST", "/v1/apps", string(b), nil); r.StatusCode != http.StatusCreated {
			t.Fatalf("%d config entries: %d %s", len(cfg), r.StatusCode, raw)
		}
		b, _ = json.Marshal(map[string]any{"name": "long-value", "config": map[string]string{"k": strings.Repeat("v", backend.MaxConfigValueLength+1)}})
		if r, raw := do("POST", "/v1/apps", string(b), nil); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("a long config value: %d %s", r.StatusCode, raw)
		}
	})

	t.Run("secret value size", func(t *testing.T) {
		app, err := svc.CreateApp(t.Context(), backend.CreateAppRequest{Name: "a"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"value": strings.Repeat("s", backend.MaxSecretValueLength+1)})
		r, raw := do("PUT", "/v1/apps/"+app.ID+"/secrets/token", string(b), nil)
		if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(raw, "sss") {
			t.Fatalf("a long secret value: %d %s", r.StatusCode, raw)
		}
	})

	t.Run("idempotency key length", func(t *testing.T) {
		k, err := svc.CreateAccount(t.Context(), backend.CreateAccountRequest{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		r, raw := do("POST", "/v1/accounts/"+k.ID+"/regenerate", "", http.Header{"Idempotency-Key": {strings.Repeat("i", 256)}})
		if r.StatusCode != http.StatusBadRequest {
			t.Fatalf("a 256-character Idempotency-Key: %d %s", r.StatusCode, raw)
		}
	})
}

// TestSlowBodyIs408: a body that does not arrive within the server's read
// timeout is a 408 that says so, logged as a client's mistake (not a 500
// with an ERROR line).
func TestSlowBodyIs408(t *testing.T) {
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	var log strings.Builder
	srv := httptest.NewUnstartedServer(server.New(server.Config{
		Backend: svc, Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: &log}, nil)),
	}))
	srv.Config.ReadTimeout = 300 * time.Millisecond // serve's is server.ReadTimeout
	srv.Start()
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	// Half the body, then nothing: the server's read deadline ends it.
	fmt.Fprintf(conn, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"api_key_id\":")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(raw), "did not arrive") {
		t.Errorf("a slow body: %d %s, want 408", resp.StatusCode, raw)
	}
	srv.Close()
	if strings.Contains(log.String(), `"level":"ERROR"`) {
		t.Errorf("a slow body was logged as an error:\n%s", log.String())
	}
}

// lockedWriter serializes the log's writes (the handler's goroutines).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
