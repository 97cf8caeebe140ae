package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// TestRateLimitedLoginIsNotRetried: the server's failed-login limit (429
// rate_limited) means the credentials are wrong, so waiting cannot help: one
// request, and the error keeps its code. Any other 429 is retried.
func TestRateLimitedLoginIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		body      string
		wantCalls int32
	}{
		{`{"error":{"code":"rate_limited","message":"too many failed logins from this address"}}`, 1},
		{`{"error":{"code":"unavailable","message":"slow down"}}`, 3},
	} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(tc.body))
		}))
		c, err := client.New(client.Config{Endpoint: srv.URL, APIKeyID: "id", APIKeySecret: "wrong",
			RetryMax: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetAccount(context.Background(), "x")
		if err == nil || calls.Load() != tc.wantCalls {
			t.Errorf("%s: err %v, %d calls, want %d", tc.body, err, calls.Load(), tc.wantCalls)
		}
		if tc.wantCalls == 1 && backend.CodeOf(err) != backend.CodeRateLimited {
			t.Errorf("code %q, want rate_limited: %v", backend.CodeOf(err), err)
		}
		srv.Close()
	}
}
