package benchutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// Host is a running `terraform-provider-apphost host`.
type Host struct {
	Name string
	Dir  string // its --dir: the apps' directories are under Dir/apps
	cmd  *exec.Cmd
	done chan error
}

// StartHost makes the App Host account of name through c (an admin client
// of the server at endpoint), writes its secret to a file (0600) in dir,
// starts bin's host command with driver in dir/host, its logs going to
// dir/host.log, and waits until the server says that it is online.
func StartHost(ctx context.Context, bin string, c *client.Client, endpoint, name, driver, dir string) (*Host, error) {
	acct, err := c.CreateAccount(ctx, backend.CreateAccountRequest{Name: "app-host-" + name, AppHost: name})
	if err != nil {
		return nil, fmt.Errorf("creating the App Host account of %s: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(acct.Secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "host.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }()
	h := &Host{Name: name, Dir: filepath.Join(dir, "host"), done: make(chan error, 1)}
	cmd := exec.Command(bin, "host", "--name", name, "--endpoint", endpoint, "--secret-file", secretFile, //nolint:gosec // the benchmark's own binary
		"--dir", h.Dir, "--driver", driver)
	cmd.Dir = dir
	cmd.Env = tfcli.CleanEnv("APPHOST_API_KEY_ID=" + acct.ID)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h.cmd = cmd
	go func() { h.done <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		select {
		case err := <-h.done:
			h.done <- err
			return nil, fmt.Errorf("the App Host %s exited (%v); see %s", name, err, logPath)
		case <-ctx.Done():
			h.Stop()
			return nil, ctx.Err()
		case <-time.After(wait): // polling the server for a state, with a deadline
		}
		hosts, err := c.ListAppHosts(ctx)
		if err == nil && slices.ContainsFunc(hosts, func(x backend.AppHost) bool {
			return x.Name == name && x.State == backend.AppHostOnline
		}) {
			return h, nil
		}
		if time.Now().After(deadline) {
			h.Stop()
			return nil, fmt.Errorf("the App Host %s was not online within 60s; see %s", name, logPath)
		}
	}
}

// PID is the App Host's process ID.
func (h *Host) PID() int { return h.cmd.Process.Pid }

// Stop stops the App Host: SIGTERM (it stops its apps, each within its
// stop_timeout, then itself), then SIGKILL after 60 seconds. The apps of a
// killed App Host keep running: KillApps ends them.
func (h *Host) Stop() {
	if h == nil || h.cmd == nil || h.cmd.Process == nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.done:
		h.done <- err // keep it for a second Stop
	case <-time.After(60 * time.Second):
		_ = h.cmd.Process.Kill()
		h.done <- <-h.done
	}
}

// AppProcs returns the live processes (zombies left out) of the apps whose
// directory is under root (APPHOST_APP_DIR in their environment), whoever
// started them.
func AppProcs(root string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte("APPHOST_APP_DIR=" + filepath.Clean(root) + string(filepath.Separator))
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// KillApps kills, with SIGKILL, the process groups of the apps under root
// that are still alive (an App Host that was killed leaves its apps
// running) and returns how many it found.
func KillApps(root string) int {
	procs := AppProcs(root)
	for _, pid := range procs {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		} else {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return len(procs)
}

// RSSKB reads VmRSS (the resident set size) of a running process, in kB.
func RSSKB(pid int) int64 { return statusKB(pid, "VmRSS:") }

// PeakRSSKB reads VmHWM (the peak resident set size) of a running process.
func PeakRSSKB(pid int) int64 { return statusKB(pid, "VmHWM:") }

func statusKB(pid int, field string) int64 {
	return procKB(filepath.Join("/proc", strconv.Itoa(pid), "status"), field)
}

// PSSKB reads the proportional set size of a running process, in kB: its
// resident pages, each shared page divided by the number of processes that
// share it (so the binary's text, mapped by every app, counts once in a sum).
func PSSKB(pid int) int64 {
	return procKB(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"), "Pss:")
}

func procKB(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
