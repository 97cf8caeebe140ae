package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestServeBootstrapsFromEnvAndShutsDown(t *testing.T) {
	id, secret := uuid.NewString(), "env-admin-secret-0123456789abcdefghijkl"
	t.Setenv(EnvAdminKeyID, id)
	t.Setenv(EnvAdminKeySecret, secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	store := "sqlite:" + filepath.Join(t.TempDir(), "a.db")
	go func() {
		done <- runServe(ctx, []string{"--listen", "127.0.0.1:0", "--store", store}, nil, pw, &stderr)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	if strings.Contains(line, secret) {
		t.Error("stdout shows an env-provided secret")
	}
	req, _ := http.NewRequest("GET", url+"/v1/accounts", nil)
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/accounts: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestServeRejectsNonUUIDAdminID(t *testing.T) {
	t.Setenv(EnvAdminKeyID, "not-a-uuid")
	t.Setenv(EnvAdminKeySecret, "x-secret-long-enough-for-an-admin-0123")
	var stdout, stderr strings.Builder
	store := "sqlite:" + filepath.Join(t.TempDir(), "a.db")
	code := runServe(context.Background(), []string{"--listen", "127.0.0.1:0", "--store", store}, nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "must be a UUID") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
