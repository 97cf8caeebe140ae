package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// startServe runs `serve` in-process with args on a fresh SQLite store and
// the admin from the environment, and returns the URL it prints. It stops
// the server when t ends and fails t if serve did not exit cleanly.
func startServe(t *testing.T, args ...string) (url string, admin client.Config) {
	t.Helper()
	admin = client.Config{APIKeyID: uuid.NewString(), APIKeySecret: rand.Text() + rand.Text()}
	t.Setenv(EnvAdminKeyID, admin.APIKeyID)
	t.Setenv(EnvAdminKeySecret, admin.APIKeySecret)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	store := "sqlite:" + filepath.Join(t.TempDir(), "a.db")
	args = append([]string{"--listen", "127.0.0.1:0", "--store", store}, args...)
	go func() {
		done <- runServe(ctx, args, nil, pw, &stderr)
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return strings.TrimSpace(strings.TrimPrefix(line, "listening on ")), admin
}

func TestServeTLS(t *testing.T) {
	pki := backendtest.WritePKI(t)
	url, admin := startServe(t, "--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile)
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("serve listens on %q, want https://127.0.0.1:PORT", url)
	}
	ctx := t.Context()
	connect := func(cfg client.Config) error {
		t.Helper()
		cfg.Endpoint, cfg.APIKeyID, cfg.APIKeySecret = url, admin.APIKeyID, admin.APIKeySecret
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		_, err = c.ListAccounts(ctx, backend.ListAccountsRequest{})
		return err
	}

	if err := connect(client.Config{CAFile: pki.CAFile}); err != nil {
		t.Errorf("with ca_file: %v", err)
	}
	if err := connect(client.Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("with insecure_skip_verify: %v", err)
	}

	// Without the CA the certificate is unknown: a clear error at once, not
	// the retries of a network failure (4 with waits of 0.5s and up).
	start := time.Now()
	err := connect(client.Config{})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("an unverifiable certificate took %s to report: was it retried?", took)
	}
	if !backend.IsUnavailable(err) || !strings.Contains(err.Error(), "set ca_file") ||
		!strings.Contains(err.Error(), "fix the server's certificate") || !strings.Contains(err.Error(), url) {
		t.Errorf("without ca_file: err = %v", err)
	}

	// The server refuses anything below TLS 1.2.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{
			MinVersion: v, MaxVersion: v, InsecureSkipVerify: true, //nolint:gosec // the test is of the server's minimum
		})
		if err == nil {
			_ = conn.Close()
			t.Errorf("the server accepted TLS version %s", tls.VersionName(v))
		}
	}
}

func TestServeLoginRateLimitFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--login-burst", "0"},
		{"--login-burst", "1001"},
		{"--login-backoff", "0s"},
		{"--login-backoff", "500ms"},
		{"--login-backoff", "48h"},
		{"--login-backoff", "soon"},
		{"--login-backoff-max", "48h"},
		{"--trusted-proxy", "a-proxy"},
		{"--app-host-offline-after", "10ms"},
		{"--app-host-offline-after", "soon"},
	} {
		var stdout, stderr strings.Builder
		code := runServe(t.Context(), append([]string{"--listen", "127.0.0.1:0",
			"--store", "sqlite:" + filepath.Join(t.TempDir(), "a.db")}, args...), nil, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("serve %v: exit %d, stderr %q", args, code, stderr.String())
		}
	}

	// A burst of 1: the second login from this address at this account is
	// refused unchecked (429), and no network failure is counted.
	url, admin := startServe(t, "--login-burst", "1", "--login-backoff", "1h")
	ctx := t.Context()
	c, err := client.New(client.Config{Endpoint: url, APIKeyID: admin.APIKeyID, APIKeySecret: admin.APIKeySecret})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	k, err := c.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	wrong := backend.LoginRequest{AccountID: k.ID, Secret: "wrong"}
	if err := c.Login(ctx, wrong); backend.CodeOf(err) != backend.CodeLoginFailed {
		t.Fatalf("first wrong login: %v", err)
	}
	if err := c.Login(ctx, wrong); backend.CodeOf(err) != backend.CodeRateLimited {
		t.Fatalf("second wrong login: %v, want rate_limited", err)
	}
	right := backend.LoginRequest{AccountID: k.ID, Secret: k.Secret}
	if err := c.Login(ctx, right); backend.CodeOf(err) != backend.CodeRateLimited {
		t.Fatalf("right secret while throttled: %v, want rate_limited", err)
	}
	if a, err := c.GetAccount(ctx, k.ID); err != nil || a.FailedLoginAttempts != 0 {
		t.Errorf("account after the limit: %+v %v, want no failed attempt counted", a, err)
	}
}
