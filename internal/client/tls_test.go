package client_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// TLS failures are not network trouble: they are reported at once, with what
// to change, and never retried.
func TestTLSFailuresAreNotRetried(t *testing.T) {
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) })
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors are the point
	tlsSrv.StartTLS()                                   // with a certificate no system pool trusts
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(h)
	defer plainSrv.Close()

	for _, tc := range []struct {
		name, endpoint string
		want           []string
	}{
		{"unknown CA", tlsSrv.URL, []string{"could not be verified", "set ca_file", "fix the server's certificate"}},
		{"plain HTTP server", "https://" + strings.TrimPrefix(plainSrv.URL, "http://"), []string{"does not answer TLS", "http://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(client.Config{Endpoint: tc.endpoint, APIKeySecret: "topsecret"})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			// Retries would take seconds: 4, with waits from 0.5s up.
			start := time.Now()
			_, err = c.ListAccounts(t.Context(), backend.ListAccountsRequest{})
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the failure took %s to report: was it retried?", took)
			}
			if !backend.IsUnavailable(err) {
				t.Fatalf("err = %v, want unavailable", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "times)") || strings.Contains(err.Error(), "topsecret") {
				t.Errorf("err = %v: retried, or holds the secret", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the handlers ran %d times", n)
	}
}
