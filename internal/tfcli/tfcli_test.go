package tfcli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeTB records what Require does with a test instead of doing it.
type fakeTB struct {
	testing.TB
	failed, skipped string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }

// A missing CLI fails the test under TF_ACC (make test, CI) and skips it
// otherwise.
func TestRequireWithoutCLI(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvPath, "")
	for _, acc := range []string{"1", ""} {
		t.Setenv(EnvAcc, acc)
		f := &fakeTB{TB: t}
		if got := Require(f); got != "" {
			t.Fatalf("TF_ACC=%q: Require found %q on an empty PATH", acc, got)
		}
		if acc != "" && (f.failed == "" || f.skipped != "" || !strings.Contains(f.failed, "neither terraform nor tofu")) {
			t.Errorf("TF_ACC=%q: want a failure naming the missing CLI, got failed=%q skipped=%q", acc, f.failed, f.skipped)
		}
		if acc == "" && (f.skipped == "" || f.failed != "") {
			t.Errorf("TF_ACC unset: want a skip, got failed=%q skipped=%q", f.failed, f.skipped)
		}
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	tofu := fakeCLI(t, dir, "tofu", "exit 0")
	t.Setenv("PATH", dir)
	t.Setenv(EnvPath, "")
	if got, err := Find(); err != nil || got != tofu {
		t.Errorf("Find with only tofu on PATH = %q, %v; want %q", got, err, tofu)
	}
	terraform := fakeCLI(t, dir, "terraform", "exit 0")
	if got, err := Find(); err != nil || got != terraform {
		t.Errorf("Find with terraform and tofu on PATH = %q, %v; want terraform", got, err)
	}
	t.Setenv(EnvPath, tofu)
	if got, err := Find(); err != nil || got != tofu {
		t.Errorf("Find with %s = %q, %v; want it", EnvPath, got, err)
	}
	t.Setenv(EnvPath, filepath.Join(dir, "missing"))
	if _, err := Find(); err == nil || !strings.Contains(err.Error(), EnvPath) {
		t.Errorf("Find with %s naming no file: %v; want an error naming %s", EnvPath, err, EnvPath)
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("APPHOST_STORE_PATH", "/elsewhere")
	t.Setenv("CHECKPOINT_DISABLE", "")
	t.Setenv("BENCH_RSS_LOG", "/x")
	t.Setenv("TFCLI_KEPT", "yes")
	env := CleanEnv("EXTRA=1")
	for _, kv := range env {
		for _, p := range []string{"TF_", "APPHOST_", "CHECKPOINT_", "BENCH_RSS_"} {
			if strings.HasPrefix(kv, p) {
				t.Errorf("CleanEnv kept %s", kv)
			}
		}
	}
	if !slices.Contains(env, "TFCLI_KEPT=yes") || env[len(env)-1] != "EXTRA=1" {
		t.Errorf("CleanEnv dropped other variables or extra: %q", env)
	}
}

func TestWriteCLIConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "terraformrc")
	if err := WriteCLIConfig(path, "/opt/bin"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"apphost/apphost" = "/opt/bin"`) || !strings.Contains(string(b), "disable_checkpoint = true") {
		t.Errorf("CLI configuration:\n%s", b)
	}
	if err := WriteCLIConfig(path, ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "dev_overrides") {
		t.Errorf("CLI configuration without a provider has dev_overrides:\n%s", b)
	}
}

// Run returns what the CLI printed, its exit code as a result (not an
// error), and an error when the command runs out of time.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	cli := fakeCLI(t, dir, "terraform", `echo "args: $*"; echo "env: $FOO"; echo "Error: broken" >&2; exit 3`)
	w := &Workdir{CLI: cli, Dir: dir, Env: []string{"FOO=base"}}
	r, err := w.WithEnv("FOO=extra").Run(t.Context(), "plan", "-input=false")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 3 || r.Stdout != "args: plan -input=false -no-color\nenv: extra\n" || r.Stderr != "Error: broken\n" {
		t.Errorf("Run = %+v", r)
	}
	if got := r.ErrorLines(); !slices.Equal(got, []string{"Error: broken"}) {
		t.Errorf("ErrorLines = %q", got)
	}
	if len(w.Env) != 1 {
		t.Errorf("WithEnv changed the original: %q", w.Env)
	}

	slow := fakeCLI(t, dir, "slow", "exec sleep 30")
	w = &Workdir{CLI: slow, Dir: dir, Timeout: 100 * time.Millisecond}
	start := time.Now()
	r, err = w.Run(t.Context(), "apply")
	if !errors.Is(err, context.DeadlineExceeded) || r.Code != -1 {
		t.Errorf("Run past its timeout = %+v, %v; want code -1 and a deadline error", r, err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Run past its timeout returned after %s", took)
	}
}

// fakeCLI writes an executable shell script named name into dir.
func fakeCLI(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}
