package tfcli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvAcc is set by make test and CI (TF_ACC=1): a test that needs the CLI
// fails without one rather than skipping.
const EnvAcc = "TF_ACC"

// Require returns the Terraform CLI for t. Without one it fails t when
// TF_ACC is set (make test and CI must never skip silently) and skips t
// otherwise.
func Require(t testing.TB) string {
	t.Helper()
	p, err := Find()
	switch {
	case err == nil:
		return p
	case os.Getenv(EnvAcc) != "":
		t.Fatalf("%v (%s is set, so a test that drives the Terraform CLI fails without one)", err, EnvAcc)
	default:
		t.Skipf("%v (%s is not set, so the test skips)", err, EnvAcc)
	}
	return ""
}

// build is the provider binary of the test binary and its CLI configuration.
var build struct {
	once      sync.Once
	dir       string // removed by Main
	bin       string // dir/bin/terraform-provider-apphost
	cliConfig string // dir/terraformrc, dev_overrides pointing at bin
	took      time.Duration
	err       error
}

// Main runs the tests of m, removes the provider binary built for them, and
// exits: a package that uses ProviderBinary or New calls it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// MainWithBinary builds the module's binary, sets *bin to its path, runs
// the tests of m, removes the binary and exits: for a package whose tests
// start the binary's commands (serve, host, example-app) from helpers that
// have no testing.TB at hand.
func MainWithBinary(m *testing.M, bin *string) {
	build.once.Do(func() { build.err = buildProvider() })
	if build.err != nil {
		fmt.Fprintf(os.Stderr, "building the provider binary: %v\n", build.err)
		os.Exit(1)
	}
	*bin = build.bin
	Main(m)
}

// ProviderBinary builds the module's main package (the provider and its
// serve command) once per test binary and returns the binary's absolute
// path; every later call returns the same binary.
func ProviderBinary(t testing.TB) string {
	t.Helper()
	first := false
	build.once.Do(func() {
		first = true
		build.err = buildProvider()
	})
	if build.err != nil {
		t.Fatalf("building the provider binary: %v", build.err)
	}
	if first {
		t.Logf("built the provider binary in %s", build.took.Round(time.Millisecond))
	}
	return build.bin
}

func buildProvider() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("go env GOMOD: the test does not run inside the module")
	}
	// One binary for every test of the package, so not t.TempDir (Main
	// removes it).
	build.dir, err = os.MkdirTemp("", "apphost-tfcli-") //nolint:usetesting // shared by every test of the binary
	if err != nil {
		return err
	}
	binDir := filepath.Join(build.dir, "bin")
	bin := filepath.Join(binDir, "terraform-provider-apphost")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	build.took = time.Since(start)
	cliConfig := filepath.Join(build.dir, "terraformrc")
	if err := WriteCLIConfig(cliConfig, binDir); err != nil {
		return err
	}
	build.bin, build.cliConfig = bin, cliConfig
	return nil
}

// New returns a working directory dir (t.TempDir() when empty; created when
// missing) in which the CLI that Require found serves apphost/apphost from
// ProviderBinary.
func New(t testing.TB, dir string) *Workdir {
	t.Helper()
	cli := Require(t)
	ProviderBinary(t)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &Workdir{CLI: cli, Dir: dir, Env: Env(build.cliConfig)}
}

// RunT runs the CLI with args in w.Dir for t: it logs the summary and fails
// t when the command could not run to its end; an exit code is the
// caller's to judge.
func (w *Workdir) RunT(t testing.TB, args ...string) Result {
	t.Helper()
	r, err := w.Run(t.Context(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	t.Log(r.Summary())
	return r
}

// Run runs the CLI with args in dir (see New and RunT).
func Run(t testing.TB, dir string, args ...string) Result {
	t.Helper()
	return New(t, dir).RunT(t, args...)
}
