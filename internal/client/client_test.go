package client_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// fake answers with the statuses in order (the last one repeats) and counts calls.
func fake(t *testing.T, statuses ...int) (*client.Client, *atomic.Int32, *http.Request) {
	t.Helper()
	var calls atomic.Int32
	last := &http.Request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(calls.Add(1)) - 1
		*last = *r.Clone(context.Background())
		st := statuses[min(i, len(statuses)-1)]
		w.Header().Set("Content-Type", "application/json")
		if st == 429 {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(st)
		switch {
		case st == 404:
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such account"}}`))
		case st == 409:
			_, _ = w.Write([]byte(`{"error":{"code":"in_use","message":"bound","apps":["a","b"]}}`))
		case st >= 400:
			_, _ = w.Write([]byte(`<html>proxy error</html>`))
		default:
			_, _ = w.Write([]byte(`{"id":"x","name":"n","secret":"s","secret_version":2}`))
		}
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Endpoint: srv.URL + "/", APIKeyID: "id", APIKeySecret: "pw",
		UserAgent: "test-agent/1", RetryMax: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls, last
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	t.Run("GET retries 503 then succeeds", func(t *testing.T) {
		c, calls, last := fake(t, 503, 502, 200)
		if _, err := c.GetAccount(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 3 {
			t.Errorf("calls = %d", calls.Load())
		}
		if last.UserAgent() != "test-agent/1" {
			t.Errorf("User-Agent %q", last.UserAgent())
		}
		if u, p, ok := last.BasicAuth(); !ok || u != "id" || p != "pw" {
			t.Error("no Basic auth")
		}
	})
	t.Run("4xx is never retried", func(t *testing.T) {
		c, calls, _ := fake(t, 404)
		_, err := c.GetAccount(ctx, "x")
		if !backend.IsNotFound(err) || calls.Load() != 1 {
			t.Errorf("err %v, calls %d", err, calls.Load())
		}
	})
	t.Run("errors decode with apps", func(t *testing.T) {
		c, _, _ := fake(t, 409)
		err := c.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: "x"})
		var be *backend.Error
		if !backend.IsInUse(err) || !asErr(err, &be) || len(be.Apps) != 2 {
			t.Errorf("err %#v", err)
		}
	})
	t.Run("create is not retried on 502", func(t *testing.T) {
		c, calls, _ := fake(t, 502, 200)
		_, err := c.CreateAccount(ctx, backend.CreateAccountRequest{Name: "n"})
		if !backend.IsUnavailable(err) || calls.Load() != 1 {
			t.Errorf("err %v, calls %d", err, calls.Load())
		}
	})
	t.Run("create is retried on 429", func(t *testing.T) {
		c, calls, _ := fake(t, 429, 201)
		if _, err := c.CreateAccount(ctx, backend.CreateAccountRequest{Name: "n"}); err != nil || calls.Load() != 2 {
			t.Errorf("err %v, calls %d", err, calls.Load())
		}
	})
	t.Run("regenerate retries with one idempotency key", func(t *testing.T) {
		var keys []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			if len(keys) < 3 {
				w.WriteHeader(503)
				return
			}
			_, _ = w.Write([]byte(`{"id":"x","secret":"s","secret_version":2}`))
		}))
		defer srv.Close()
		c, _ := client.New(client.Config{Endpoint: srv.URL, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
		r, err := c.RegenerateSecret(ctx, backend.RegenerateRequest{ID: "x"})
		if err != nil || r.Secret != "s" {
			t.Fatalf("%v %v", r, err)
		}
		if len(keys) != 3 || keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
			t.Errorf("keys %q", keys)
		}
	})
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := client.New(client.Config{Endpoint: "http://" + addr, APIKeySecret: "topsecret", RetryMax: 2,
		RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateAccount(context.Background(), backend.CreateAccountRequest{Name: "n"})
	if !backend.IsUnavailable(err) || !strings.Contains(err.Error(), "could not be reached") ||
		!strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "check the endpoint") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), "topsecret") {
		t.Error("the error holds the secret")
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []client.Config{
		{},
		{Endpoint: "ftp://x"},
		{Endpoint: "https://user:pw@x"},
		{Endpoint: "https://x", CAFile: "/no/such/file"},
	} {
		if _, err := client.New(cfg); err == nil {
			t.Errorf("client.New(%+v) accepted", cfg)
		}
	}
}

func asErr(err error, out **backend.Error) bool {
	e, ok := err.(*backend.Error)
	*out = e
	return ok
}
