// Package tfcli drives the real Terraform CLI (terraform or tofu) against
// the apphost provider: it finds the CLI, writes a CLI configuration whose
// dev_overrides point apphost/apphost at a provider binary (no init, no
// registry), gives the CLI an environment with nothing of the caller's
// TF_* or APPHOST_* settings in it, and runs commands in a working directory
// within a time limit.
//
// It is the one harness of every test that runs the CLI (internal/provider,
// internal/e2e, internal/faulttest) and of the benchmark (tfbench); the test
// side is in testing.go. It imports nothing from the Terraform plugin
// libraries: it only runs the CLI.
package tfcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// EnvPath names the CLI to drive, as for terraform-plugin-testing.
const EnvPath = "TF_ACC_TERRAFORM_PATH"

// DefaultTimeout bounds one command of a Workdir whose Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// ErrNotFound says that no Terraform CLI was found.
var ErrNotFound = errors.New("neither terraform nor tofu is on PATH: install Terraform >= 1.11 or OpenTofu, or set " + EnvPath)

// Find returns the Terraform CLI: $TF_ACC_TERRAFORM_PATH, else terraform,
// else tofu on PATH. It returns ErrNotFound when there is none, and an error
// naming TF_ACC_TERRAFORM_PATH when that names no executable.
func Find() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvPath, p, err)
		}
		return found, nil
	}
	for _, name := range []string{"terraform", "tofu"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// CleanEnv is the process environment without anything that would change
// how Terraform, the provider or the server behave (TF_*, APPHOST_*,
// CHECKPOINT_*, and the benchmark's BENCH_RSS_*), followed by extra.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TF_"), strings.HasPrefix(k, "APPHOST_"),
			strings.HasPrefix(k, "CHECKPOINT_"), strings.HasPrefix(k, "BENCH_RSS_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// WriteCLIConfig writes a CLI configuration file to path that disables the
// update check and, unless providerDir is empty, serves apphost/apphost from
// the terraform-provider-apphost binary in providerDir (dev_overrides).
func WriteCLIConfig(path, providerDir string) error {
	cfg := "disable_checkpoint = true\n"
	if providerDir != "" {
		cfg += fmt.Sprintf(`
provider_installation {
  dev_overrides {
    "apphost/apphost" = %q
  }
  direct {}
}
`, providerDir)
	}
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// Env is CleanEnv with the CLI configuration file cliConfig and the settings
// of an unattended run (no prompts, no update check), followed by extra.
func Env(cliConfig string, extra ...string) []string {
	return CleanEnv(append([]string{
		"TF_CLI_CONFIG_FILE=" + cliConfig,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
	}, extra...)...)
}

// Workdir is a Terraform working directory: the CLI runs in Dir with Env.
type Workdir struct {
	CLI string   // the terraform or tofu binary
	Dir string   // the working directory
	Env []string // the whole environment of the CLI (see Env)
	// Timeout bounds one command (DefaultTimeout when zero).
	Timeout time.Duration
}

// WithEnv returns a copy of w whose commands also get extra.
func (w *Workdir) WithEnv(extra ...string) *Workdir {
	c := *w
	c.Env = append(slices.Clip(w.Env), extra...)
	return &c
}

// Result is one finished command.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Code           int // the exit code; -1 when the command was not run to its end
	Took           time.Duration
}

// Summary is one line: the command, its exit code and its time.
func (r Result) Summary() string {
	return fmt.Sprintf("terraform %s: exit %d in %s", strings.Join(r.Args, " "), r.Code, r.Took.Round(time.Millisecond))
}

// String is the summary followed by what the command printed.
func (r Result) String() string {
	return fmt.Sprintf("%s\nstdout:\n%s\nstderr:\n%s", r.Summary(), r.Stdout, r.Stderr)
}

// Output is stdout followed by stderr (diagnostics go to stderr).
func (r Result) Output() string { return r.Stdout + r.Stderr }

// ErrorLines returns the "Error: ..." summary lines of the output.
func (r Result) ErrorLines() []string {
	var out []string
	for l := range strings.Lines(r.Output()) {
		l = strings.TrimSpace(strings.TrimLeft(l, "│╷╵ "))
		if strings.HasPrefix(l, "Error: ") {
			out = append(out, l)
		}
	}
	return out
}

// Running is a started command.
type Running struct {
	Cmd    *exec.Cmd
	done   chan struct{} // closed when the command has exited
	res    Result
	err    error
	cancel context.CancelFunc
}

// Start starts the CLI with args (and -no-color, unless args hold it) in
// w.Dir; the command is killed when ctx ends or w's timeout passes.
func (w *Workdir) Start(ctx context.Context, args ...string) (*Running, error) {
	if !slices.Contains(args, "-no-color") {
		args = append(slices.Clip(args), "-no-color")
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	cmd := exec.CommandContext(cctx, w.CLI, args...)
	cmd.Dir = w.Dir
	cmd.Env = w.Env
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := &Running{Cmd: cmd, done: make(chan struct{}), cancel: cancel}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s %s: %w", w.CLI, strings.Join(args, " "), err)
	}
	go func() {
		defer close(r.done)
		defer cancel()
		err := cmd.Wait()
		r.res = Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
		var ee *exec.ExitError
		switch {
		case cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
			r.res.Code = -1
			r.err = fmt.Errorf("terraform %s: timed out after %s: %w", strings.Join(args, " "), timeout, cctx.Err())
		case errors.As(err, &ee):
			r.res.Code = ee.ExitCode()
		case err != nil:
			r.res.Code = -1
			r.err = fmt.Errorf("terraform %s: %w", strings.Join(args, " "), err)
		}
	}()
	return r, nil
}

// Exited reports whether the command has exited.
func (r *Running) Exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Wait waits for the command and returns its result; the error says why it
// did not run to its end (a timeout, a failure to wait), never an exit code.
func (r *Running) Wait() (Result, error) {
	<-r.done
	return r.res, r.err
}

// Run runs the CLI with args in w.Dir and waits for it (see Start).
func (w *Workdir) Run(ctx context.Context, args ...string) (Result, error) {
	r, err := w.Start(ctx, args...)
	if err != nil {
		return Result{Args: args, Code: -1}, err
	}
	return r.Wait()
}
