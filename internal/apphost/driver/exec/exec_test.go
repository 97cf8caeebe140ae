//go:build linux

package exec_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/drivertest"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/exec"
)

// envHelperHost makes the test binary an App Host process that starts one
// app and then waits to be killed: how the tests kill an App Host for real.
const envHelperHost = "APPHOST_EXEC_TEST_HOST"

type helperConfig struct {
	Dir  string      `json:"dir"`
	Spec driver.Spec `json:"spec"`
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(envHelperHost); cfg != "" {
		os.Exit(helperHost(cfg))
	}
	os.Exit(m.Run())
}

func helperHost(cfg string) int {
	var c helperConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d, err := exec.New(exec.Options{Dir: c.Dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := d.Start(context.Background(), c.Spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, _ := d.State(c.Spec.Name)
	fmt.Printf("started %d\n", s.PID)
	select {} // until killed
}

// fast are options that let the tests run in seconds.
func fast(dir string) exec.Options {
	return exec.Options{
		Dir:              dir,
		Endpoint:         "http://127.0.0.1:1",
		MinBackoff:       10 * time.Millisecond,
		MaxBackoff:       100 * time.Millisecond,
		StableAfter:      5 * time.Second,
		FailAfter:        3,
		LogCheckInterval: 10 * time.Millisecond,
		PollInterval:     10 * time.Millisecond,
	}
}

// newDriver makes a driver in a new directory (or opts.Dir), closed when t
// ends; any process left of its apps is killed after that.
func newDriver(t *testing.T, opts exec.Options) *exec.Driver {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "host")
	}
	t.Cleanup(func() { killLeftovers(t, opts.Dir) })
	d, err := exec.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// killLeftovers kills every process started for an app under dir, and fails
// t if there was one: a test must leave none.
func killLeftovers(t *testing.T, dir string) {
	abs, _ := filepath.Abs(dir)
	for _, pid := range appProcesses(abs) {
		t.Errorf("process %d of an app under %s was left running", pid, abs)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// appProcesses lists the live processes whose environment has an
// APPHOST_APP_DIR under dir.
func appProcesses(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("APPHOST_APP_DIR=")); ok && strings.HasPrefix(string(v), dir+"/") {
				out = append(out, pid)
			}
		}
	}
	return out
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z' && b[i+2] != 'X'
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			out = append(out, pid)
		}
	}
	return out
}

func shSpec(name, script string) driver.Spec {
	return driver.Spec{Name: name, Command: []string{"/bin/sh", "-c", script}, Generation: 1, StopTimeout: 5 * time.Second}
}

func sleepSpec(name string) driver.Spec {
	return driver.Spec{Name: name, Command: []string{"sleep", "1000"}, Generation: 1, StopTimeout: 5 * time.Second}
}

func TestContract(t *testing.T) {
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) driver.Driver {
			d, err := exec.New(fast(filepath.Join(t.TempDir(), "host")))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Spec: func(_ *testing.T, name string) driver.Spec { return sleepSpec(name) },
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The app runs in DIR/apps/NAME with its app.config and secret files (0600
// in 0700 directories) and an environment of exactly the App Host
// variables: none of the App Host's own, its credentials least of all.
func TestFilesAndEnvironment(t *testing.T) {
	t.Setenv("APPHOST_API_KEY_ID", "host-key-id")
	t.Setenv("APPHOST_API_KEY_SECRET", "host-key-secret")
	t.Setenv("APPHOST_TEST_HOST_ONLY", "x")
	opts := fast(filepath.Join(t.TempDir(), "host"))
	opts.CAFile = "ca.pem" // made absolute
	opts.Path = "/usr/bin:/bin"
	d := newDriver(t, opts)
	spec := sleepSpec("forwarder")
	spec.Config = map[string]string{"url": "https://siem.example", "login_interval": "1s"}
	spec.Secrets = []driver.Secret{
		{Name: "siem", Value: "bound-secret-value", AccountID: "acct-1"},
		{Name: "opaque", Value: "opaque-secret-value"},
	}
	spec.AppToken = "app-token-1"
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	st := drivertest.Running(t, d, "forwarder", 1)
	appDir := d.AppDir("forwarder")

	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", st.PID))
	if err != nil || cwd != appDir {
		t.Errorf("cwd %q (%v), want %q", cwd, err, appDir)
	}
	env := strings.Split(strings.TrimRight(readFile(t, fmt.Sprintf("/proc/%d/environ", st.PID)), "\x00"), "\x00")
	slices.Sort(env)
	caFile, _ := filepath.Abs("ca.pem")
	want := []string{
		"APPHOST_APP_DIR=" + appDir,
		"APPHOST_APP_NAME=forwarder",
		"APPHOST_APP_TOKEN=app-token-1",
		"APPHOST_CA_FILE=" + caFile,
		"APPHOST_ENDPOINT=http://127.0.0.1:1",
		"HOME=" + appDir,
		"PATH=/usr/bin:/bin",
	}
	if !slices.Equal(env, want) {
		t.Errorf("environment\n got %q\nwant %q", env, want)
	}

	if got, want := readFile(t, filepath.Join(appDir, "app.config")), "login_interval = 1s\nopaque = $opaque\nsiem = $siem\nsiem_api_key_id = acct-1\nurl = https://siem.example\n"; !strings.HasSuffix(got, want) {
		t.Errorf("app.config:\n%s\nwant it to end with:\n%s", got, want)
	}
	if got := readFile(t, filepath.Join(appDir, "secrets", "siem")); got != "bound-secret-value" {
		t.Errorf("secrets/siem = %q", got)
	}
	for _, p := range []string{d.Dir(), filepath.Join(d.Dir(), "apps"), appDir, filepath.Join(appDir, "secrets")} {
		if m := mode(t, p); m != 0o700 {
			t.Errorf("%s: mode %v, want 0700", p, m)
		}
	}
	for _, p := range []string{"app.config", "secrets/siem", "secrets/opaque", "log", "pid"} {
		if m := mode(t, filepath.Join(appDir, p)); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, m)
		}
	}

	// A reload without the opaque secret removes its file.
	spec.Generation, spec.Secrets, spec.ReloadSignal = 2, spec.Secrets[:1], "SIGWINCH" // sleep ignores SIGWINCH
	if err := d.Reload(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(appDir, "secrets", "opaque")); !os.IsNotExist(err) {
		t.Errorf("secrets/opaque after a reload without it: %v", err)
	}
	if s, _ := d.State("forwarder"); s.PID != st.PID || s.Generation != 2 {
		t.Errorf("reload with a signal restarted the app or kept its generation: %+v", s)
	}
	// Stop removes the secret files and the record.
	if err := d.Stop(t.Context(), "forwarder"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(appDir, "secrets")); len(ents) != 0 {
		t.Errorf("secret files left after Stop: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(appDir, "pid")); !os.IsNotExist(err) {
		t.Errorf("pid record left after Stop: %v", err)
	}
}

// A stop reaches the app's children: SIGTERM goes to the whole group.
func TestStopReachesChildren(t *testing.T) {
	d := newDriver(t, fast(""))
	if err := d.Start(t.Context(), shSpec("tree", "sleep 1000 & sleep 1000 & touch started; wait")); err != nil {
		t.Fatal(err)
	}
	st := drivertest.Running(t, d, "tree", 1)
	waitFile(t, filepath.Join(d.AppDir("tree"), "started"))
	// The touch may still be leaving the group: wait for the three that stay.
	deadline := time.Now().Add(drivertest.Timeout)
	for m := groupMembers(st.PID); len(m) != 3; m = groupMembers(st.PID) {
		if time.Now().After(deadline) {
			t.Fatalf("group %d has %v, want the shell and two sleeps", st.PID, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Stop(t.Context(), "tree"); err != nil {
		t.Fatal(err)
	}
	if m := groupMembers(st.PID); len(m) != 0 {
		t.Errorf("after Stop, group %d still has %v", st.PID, m)
	}
}

// An app that ignores SIGTERM is killed after its stop timeout, children
// too.
func TestStopKillsAfterTimeout(t *testing.T) {
	d := newDriver(t, fast(""))
	spec := shSpec("stubborn", `trap "" TERM; sleep 1000 & touch started; wait`)
	spec.StopTimeout = 200 * time.Millisecond
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	st := drivertest.Running(t, d, "stubborn", 1)
	waitFile(t, filepath.Join(d.AppDir("stubborn"), "started"))
	if err := d.Stop(t.Context(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	if m := groupMembers(st.PID); len(m) != 0 {
		t.Errorf("after Stop, group %d still has %v", st.PID, m)
	}
	if s, _ := d.State("stubborn"); s.ExitCode != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code %d, want %d (SIGKILL after the stop timeout)", s.ExitCode, 128+int(syscall.SIGKILL))
	}
}

// A frozen (SIGSTOPped) app gets SIGCONT with its SIGTERM, so that its
// handler runs and it stops gracefully, not at SIGKILL.
func TestStopFrozenApp(t *testing.T) {
	d := newDriver(t, fast(""))
	spec := shSpec("frozen", `trap 'echo graceful; exit 0' TERM; touch ready; while :; do sleep 0.01; done`)
	spec.StopTimeout = 10 * time.Second
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	st := drivertest.Running(t, d, "frozen", 1)
	waitFile(t, filepath.Join(d.AppDir("frozen"), "ready"))
	if err := syscall.Kill(st.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(t.Context(), "frozen"); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.State("frozen"); s.ExitCode != 0 {
		t.Errorf("exit code %d, want 0 (its TERM handler ran)", s.ExitCode)
	}
	waitLog(t, d, "frozen", "graceful\n")
}

// An app that exits is restarted with a backoff; one that keeps exiting is
// failed, with its exit status and the last lines of its log, and its
// secret files are removed.
func TestKeepsExitingFails(t *testing.T) {
	d := newDriver(t, fast(""))
	spec := shSpec("crashy", `echo "starting"; echo "fatal: login rejected (401)" >&2; exit 3`)
	spec.Secrets = []driver.Secret{{Name: "k", Value: "v", AccountID: "a"}}
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	st := drivertest.WaitFor(t, d, "crashy", "failed", func(s driver.State) bool { return s.Phase == driver.PhaseFailed })
	if st.ExitCode != 3 || st.Restarts != 2 || !strings.Contains(st.Detail, "exited with status 3") ||
		!strings.HasSuffix(st.LogTail, "fatal: login rejected (401)") {
		t.Errorf("failed state %+v: want exit 3 after 2 restarts, the status in Detail and the stderr line in LogTail", st)
	}
	if _, err := os.Stat(filepath.Join(d.AppDir("crashy"), "secrets", "k")); !os.IsNotExist(err) {
		t.Errorf("secret file of a failed app: %v", err)
	}
	// A Start of the same generation tries again.
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	drivertest.WaitFor(t, d, "crashy", "failed again after 2 restarts", func(s driver.State) bool {
		return s.Phase == driver.PhaseFailed && s.Restarts == 2
	})
}

// An app that stays up longer than StableAfter before each exit is
// restarted every time, never failed.
func TestExitAfterStableRestarts(t *testing.T) {
	opts := fast("")
	opts.StableAfter = 50 * time.Millisecond
	d := newDriver(t, opts)
	if err := d.Start(t.Context(), shSpec("flaky", "sleep 0.2; exit 1")); err != nil {
		t.Fatal(err)
	}
	st := drivertest.WaitFor(t, d, "flaky", "restarted 4 times", func(s driver.State) bool {
		return s.Restarts >= 4 || s.Phase == driver.PhaseFailed
	})
	if st.Phase == driver.PhaseFailed {
		t.Errorf("an app that stayed up past StableAfter before each exit was failed: %+v", st)
	}
}

// The leader exits, its child lives on: the child is killed before the
// restart, so that no two copies run.
func TestExitKillsLeftovers(t *testing.T) {
	d := newDriver(t, fast(""))
	if err := d.Start(t.Context(), shSpec("leaky", "sleep 1000 & echo $! > child; exit 1")); err != nil {
		t.Fatal(err)
	}
	var pids []int
	drivertest.WaitFor(t, d, "leaky", "failed", func(s driver.State) bool { return s.Phase == driver.PhaseFailed })
	b, _ := os.ReadFile(filepath.Join(d.AppDir("leaky"), "child"))
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		t.Fatal("the app wrote no child PID")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("child %d of an exited app still runs", pid)
		}
	}
}

// Reload sends the reload signal to the app (the leader), which keeps
// running; without a reload signal, Reload restarts it.
func TestReload(t *testing.T) {
	d := newDriver(t, fast(""))
	// The app must have its handler before the signal comes: a real app
	// too (a SIGHUP before it would kill it).
	spec := shSpec("reloader", `trap 'cat secrets/k; echo' HUP; touch ready; while :; do sleep 0.01; done`)
	spec.Secrets = []driver.Secret{{Name: "k", Value: "first"}}
	spec.ReloadSignal = "SIGHUP"
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	st := drivertest.Running(t, d, "reloader", 1)
	waitFile(t, filepath.Join(d.AppDir("reloader"), "ready"))
	spec.Generation, spec.Secrets[0].Value = 2, "second"
	if err := d.Reload(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "reloader", "second\n")
	if s, _ := d.State("reloader"); s.PID != st.PID || s.Generation != 2 || s.Phase != driver.PhaseRunning {
		t.Errorf("after a reload by signal: %+v, want the same process, generation 2", s)
	}
	spec.Generation, spec.ReloadSignal = 3, ""
	if err := d.Reload(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if s := drivertest.Running(t, d, "reloader", 3); s.PID == st.PID {
		t.Errorf("a reload without a signal did not restart the app: %+v", s)
	}
}

// A command that cannot be started fails the app and says why.
func TestBadCommand(t *testing.T) {
	d := newDriver(t, fast(""))
	spec := sleepSpec("missing")
	spec.Command = []string{"no-such-program-apphost"}
	err := d.Start(t.Context(), spec)
	if err == nil || !strings.Contains(err.Error(), "not found in PATH") {
		t.Fatalf("Start: %v, want a not-found error", err)
	}
	if s, _ := d.State("missing"); s.Phase != driver.PhaseFailed || !strings.Contains(s.Detail, "no-such-program-apphost") {
		t.Errorf("state %+v, want failed naming the command", s)
	}
}

// The log is moved to log.1 past its limit; the app goes on writing at the
// start of the emptied log (it appends).
func TestLogRotation(t *testing.T) {
	opts := fast("")
	opts.LogMaxBytes = 4096
	d := newDriver(t, opts)
	spec := shSpec("chatty", `trap 'echo after-rotation' HUP
i=0; while [ $i -lt 100 ]; do echo "line $i 0123456789012345678901234567890123456789012345678901234567890123456789"; i=$((i+1)); done
touch wrote; while :; do sleep 0.01; done`)
	spec.ReloadSignal = "SIGHUP"
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	dir := d.AppDir("chatty")
	waitFile(t, filepath.Join(dir, "wrote"))
	waitFor(t, "log rotated", func() bool {
		fi, err := os.Stat(filepath.Join(dir, "log"))
		_, err1 := os.Stat(filepath.Join(dir, "log.1"))
		return err == nil && err1 == nil && fi.Size() <= opts.LogMaxBytes
	})
	spec.Generation = 2
	if err := d.Reload(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "chatty", "after-rotation\n")
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	if bytes.IndexByte(b, 0) >= 0 {
		t.Errorf("the log has NUL bytes: the app wrote at its old offset, not appended: %q", b)
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, "log.1")), "line 0 ") && !strings.Contains(readFile(t, filepath.Join(dir, "log.1")), "line 99 ") {
		t.Errorf("log.1 holds none of the app's lines")
	}
}

// A second driver in the same directory is refused while the first lives.
func TestDirectoryLocked(t *testing.T) {
	opts := fast(filepath.Join(t.TempDir(), "host"))
	newDriver(t, opts)
	if _, err := exec.New(opts); err == nil || !strings.Contains(err.Error(), "another App Host process runs in") {
		t.Fatalf("second New: %v, want refused", err)
	}
}

// startHelperHost starts an App Host process running spec in dir and
// returns it with the app's PID once started.
func startHelperHost(t *testing.T, dir string, spec driver.Spec) (*osexec.Cmd, int) {
	t.Helper()
	cfg, _ := json.Marshal(helperConfig{Dir: dir, Spec: spec})
	cmd := osexec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelperHost+"="+string(cfg))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	pidText, ok := strings.CutPrefix(strings.TrimSpace(line), "started ")
	pid, perr := strconv.Atoi(pidText)
	if err != nil || !ok || perr != nil {
		t.Fatalf("helper App Host: %q %v\n%s", line, err, stderr.String())
	}
	return cmd, pid
}

// killHost kills an App Host process the hard way.
func killHost(t *testing.T, cmd *osexec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// A killed App Host's app keeps running; the next App Host in the directory
// adopts it (same process), starts no second copy, and can stop it.
func TestAdoptAfterHostKilled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "host")
	spec := shSpec("survivor", "sleep 1000 & touch started; wait")
	spec.Secrets = []driver.Secret{{Name: "k", Value: "v"}}
	spec.Generation = 4
	host, pid := startHelperHost(t, dir, spec)
	waitFile(t, filepath.Join(dir, "apps", "survivor", "started"))
	killHost(t, host)
	if !alive(pid) {
		t.Fatal("the app died with its App Host")
	}

	d := newDriver(t, fast(dir))
	adopted, err := d.Adopt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 1 || adopted[0].PID != pid || !adopted[0].Adopted || adopted[0].Generation != 4 || adopted[0].Phase != driver.PhaseRunning {
		t.Fatalf("Adopt = %+v, want survivor running as PID %d, generation 4", adopted, pid)
	}
	// The App Host's desired state says the same generation: nothing restarts.
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.State("survivor"); s.PID != pid {
		t.Errorf("Start of the adopted generation restarted it: %+v", s)
	}
	if got := appProcesses(d.Dir()); len(got) != 2 { // sh and its sleep
		t.Errorf("app processes %v, want one copy (sh and its sleep)", got)
	}
	// The adopted app, now with its spec, is restarted when it exits.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	drivertest.WaitFor(t, d, "survivor", "restarted", func(s driver.State) bool {
		return s.Phase == driver.PhaseRunning && s.PID != pid && s.Restarts == 1
	})
	if err := d.Stop(t.Context(), "survivor"); err != nil {
		t.Fatal(err)
	}
	if got := appProcesses(d.Dir()); len(got) != 0 {
		t.Errorf("after Stop: %v still run", got)
	}
}

// The adopted app runs with another generation than desired: Start replaces
// it, one copy at a time.
func TestAdoptedOldGenerationReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "host")
	spec := sleepSpec("old")
	host, pid := startHelperHost(t, dir, spec)
	killHost(t, host)
	d := newDriver(t, fast(dir))
	spec.Generation = 2
	if err := d.Start(t.Context(), spec); err != nil { // adopts first by itself
		t.Fatal(err)
	}
	s := drivertest.Running(t, d, "old", 2)
	if s.PID == pid || alive(pid) {
		t.Errorf("old process %d alive=%v, new %+v", pid, alive(pid), s)
	}
	if got := appProcesses(d.Dir()); len(got) != 1 {
		t.Errorf("app processes %v, want one", got)
	}
}

// Adopt stops what is left of an app whose leader died while no App Host
// ran, and a process whose record is missing (the App Host died between
// starting and recording it).
func TestAdoptStopsLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "host")
	orphanHost, orphan := startHelperHost(t, dir, shSpec("orphaned", `sleep 1000 & while [ ! -e quit ]; do sleep 0.01; done`))
	killHost(t, orphanHost)
	unrecHost, unrec := startHelperHost(t, dir, sleepSpec("unrecorded"))
	killHost(t, unrecHost)
	appsDir := filepath.Join(dir, "apps")
	if err := os.WriteFile(filepath.Join(appsDir, "orphaned", "quit"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the orphaned app's leader to exit", func() bool { return !alive(orphan) })
	if m := groupMembers(orphan); len(m) != 1 {
		t.Fatalf("group %d: %v, want its sleep left", orphan, m)
	}
	if err := os.Remove(filepath.Join(appsDir, "unrecorded", "pid")); err != nil {
		t.Fatal(err)
	}

	d := newDriver(t, fast(dir))
	adopted, err := d.Adopt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 0 {
		t.Errorf("Adopt = %+v, want none", adopted)
	}
	if m := groupMembers(orphan); len(m) != 0 {
		t.Errorf("leftover of the orphaned app still runs: %v", m)
	}
	if alive(unrec) {
		t.Errorf("the unrecorded app %d still runs", unrec)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(drivertest.Timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a state with a deadline
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	waitFor(t, path, func() bool { _, err := os.Stat(path); return err == nil })
}

func waitLog(t *testing.T, d *exec.Driver, app, text string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q in the log of %s", text, app), func() bool {
		b, _ := os.ReadFile(filepath.Join(d.AppDir(app), "log"))
		return strings.Contains(string(b), text)
	})
}
