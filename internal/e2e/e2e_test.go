package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Terraform CLI and the provider binary the tests drive, set by TestMain.
var (
	tfBin string
	// cliConfig is a Terraform CLI configuration file whose dev_overrides
	// point apphost/apphost at the freshly built provider binary.
	cliConfig string
	// setupErr says why the tests cannot run; they skip with it.
	setupErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apphost-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	setupErr = setup(dir)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// setup finds the Terraform CLI, builds the provider into dir/bin and writes
// the CLI configuration. A missing CLI is a reason to skip; a failed build is
// reported by every test.
func setup(dir string) error {
	tfBin = os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tfBin == "" {
		for _, name := range []string{"terraform", "tofu"} {
			if p, err := exec.LookPath(name); err == nil {
				tfBin = p
				break
			}
		}
	}
	if tfBin == "" {
		return errSkip
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "terraform-provider-apphost"), ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the provider: %v\n%s", err, out)
	}
	cliConfig = filepath.Join(dir, "terraformrc")
	rc := fmt.Sprintf(`provider_installation {
  dev_overrides {
    "apphost/apphost" = %q
  }
  direct {}
}
`, bin)
	return os.WriteFile(cliConfig, []byte(rc), 0o600)
}

var errSkip = errors.New("neither terraform nor tofu is on PATH; set TF_ACC_TERRAFORM_PATH")

// requireTerraform skips or fails the test when setup did not succeed.
func requireTerraform(t *testing.T) {
	t.Helper()
	if errors.Is(setupErr, errSkip) {
		t.Skip(setupErr)
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// tfResult is the outcome of one Terraform command.
type tfResult struct {
	code           int
	stdout, stderr string
}

func (r tfResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// terraform runs the Terraform CLI in dir with the private CLI configuration
// and an environment cleared of anything that could point it elsewhere.
func terraform(ctx context.Context, t *testing.T, dir string, args ...string) tfResult {
	t.Helper()
	cmd := exec.CommandContext(ctx, tfBin, append(args, "-no-color")...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(),
		"TF_CLI_CONFIG_FILE="+cliConfig,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s %s: %v", tfBin, strings.Join(args, " "), err)
	}
	return tfResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// cleanEnv is the test's environment without the variables that configure
// Terraform or the provider.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TF_") || strings.HasPrefix(name, "APPHOST_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
