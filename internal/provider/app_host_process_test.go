package provider

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// appHostProcess is a real App Host: `terraform-provider-apphost host` with
// the exec driver, on loopback, its apps real processes.
type appHostProcess struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// startAppHost starts the App Host name against the server at url, logged
// in as the App Host account keyID with secret, and stops it (SIGTERM: it
// stops its apps, then itself) when t ends.
func startAppHost(t *testing.T, url, name, keyID, secret string) *appHostProcess {
	t.Helper()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &appHostProcess{logPath: filepath.Join(dir, "host.log"), done: make(chan struct{})}
	logFile, err := os.Create(h.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logFile.Close() }()
	h.cmd = exec.Command(providerBinary(t), "host", "--name", name, "--endpoint", url, "--secret-file", secretFile,
		"--dir", filepath.Join(dir, "host"), "--driver", "exec")
	h.cmd.Env = append(cleanEnv(), "APPHOST_API_KEY_ID="+keyID)
	h.cmd.Stdout, h.cmd.Stderr = logFile, logFile
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("starting the App Host: %v", err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		h.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(h.logPath)
			t.Logf("App Host %s log:\n%s", name, b)
		}
	})
	return h
}

// stop ends the App Host with SIGTERM (it stops its apps first), then SIGKILL.
func (h *appHostProcess) stop(t *testing.T) {
	select {
	case <-h.done:
		return
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Errorf("the App Host ignored SIGTERM for 30s: killing it")
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

// awaitAppHostState waits until the backend lists the App Host name in
// state want.
func (e *accEnv) awaitAppHostState(name, want string, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		hosts, err := e.b.ListAppHosts(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, h := range hosts {
			if h.Name == name && h.State == want {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("App Host %s is not %s after %s: %+v", name, want, within, hosts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitApp waits until check accepts the app named name.
func (e *accEnv) awaitApp(name string, within time.Duration, check func(*backend.App) error) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		a, err := e.b.GetAppByName(context.Background(), name)
		if err == nil {
			if err = check(a); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("app %s: %v after %s", name, err, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
