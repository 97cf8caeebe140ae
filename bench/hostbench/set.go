package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/apphost/terraform-provider-apphost/bench/benchutil"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// The sets, in the order they are set up.
const (
	setExec    = "exec"
	setVirtual = "virtual"
	setBuiltIn = "built-in"
	// Overlap rotations (rotation_strategy = "overlap") on an exec App Host
	// of their own, several apps per key: with reload_signal (no app may
	// stop) and without (each app restarts on its own, never two of one key
	// at once).
	setOverlapReload  = "overlap-reload"
	setOverlapRestart = "overlap-restart"
)

// overlapHost is the App Host of the overlap sets.
const overlapHost = "bench-overlap"

// set is N apps on one App Host, with their keys and bound app secrets, in
// one Terraform working directory.
type set struct {
	kind       string
	appHost    string        // the apps' app_host
	appsPerKey int           // 0 (one) but for the overlap sets
	apps       []backend.App // as the server listed them after the create
	dir        string
	tf         *tfcli.Workdir
	seq        int    // command counter, for log file names
	round      string // the rotation variable's current value
	seen       map[string]bool

	// Figures over the rounds.
	applyS     []float64   // rotation applies
	rotationMS []float64   // the provider's rotation_ms, per key
	serverMS   []float64   // each rotation's created_at to ended_at
	downtimeMS []float64   // each step's downtime_ms
	downRounds [][]float64 // the same, by round
	stopStart  []float64   // each step's stopped_at to started_at, ms
	startRun   []float64   // each step's started_at to running_at, ms
	kept       int         // overlap-reload: steps whose app kept its process and never stopped
	steps      int         // every step of the set's rotations
	errors     []string
}

func (s *set) fail(format string, args ...any) {
	s.errors = append(s.errors, fmt.Sprintf(format, args...))
}

func (s *set) keyPrefix() string { return s.kind + "-key-" }
func (s *set) appPrefix() string { return s.kind + "-app-" }

// config is the set's benchutil.RotationConfig: its apps on its App Host,
// with command (if any), and secret_names so that none starts before its
// bound secret.
func (s *set) config(n int, command []string, loginInterval string) string {
	attrs := fmt.Sprintf("  app_host     = %q\n", s.appHost)
	if len(command) > 0 {
		b, _ := json.Marshal(command) // a JSON list of strings is an HCL list
		attrs += "  command      = " + string(b) + "\n"
	}
	attrs += fmt.Sprintf("  config       = { login_interval = %q }\n  secret_names = [\"api\"]\n", loginInterval)
	keyAttrs := ""
	if s.overlap() {
		keyAttrs = "  rotation_strategy = \"overlap\"\n"
	}
	if s.kind == setOverlapReload {
		attrs += "  reload_signal = \"SIGHUP\"\n"
	}
	return s.rotationConfig(n, keyAttrs, attrs).HCL()
}

func (s *set) rotationConfig(n int, keyAttrs, appAttrs string) benchutil.RotationConfig {
	return benchutil.RotationConfig{N: n, AppsPerKey: s.appsPerKey, KeyName: fmt.Sprintf("%q", s.keyPrefix()+"${count.index}"),
		AppName: fmt.Sprintf("format(%q, count.index)", s.appPrefix()+"%03d"), KeyAttributes: keyAttrs, AppAttributes: appAttrs,
		SecretName: "api"}
}

// keys is how many keys the set has.
func (s *set) keys(n int) int { return s.rotationConfig(n, "", "").Keys() }

func (s *set) overlap() bool { return s.kind == setOverlapReload || s.kind == setOverlapRestart }

// setup writes the configuration, the app IDs and the CLI configuration.
func (s *set) setup(o options, srv *benchutil.Server) error {
	if err := os.MkdirAll(filepath.Join(s.dir, "logs"), 0o755); err != nil {
		return err
	}
	var command []string
	if s.kind == setExec || s.overlap() {
		command = []string{o.provider, "example-app"}
	}
	if err := os.WriteFile(filepath.Join(s.dir, "main.tf"), []byte(s.config(o.n, command, o.loginInterval)), 0o644); err != nil {
		return err
	}
	providerDir := filepath.Join(s.dir, "bin")
	if err := os.MkdirAll(providerDir, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(o.provider, filepath.Join(providerDir, "terraform-provider-apphost")); err != nil {
		return err
	}
	cliPath := filepath.Join(s.dir, "terraformrc")
	if err := tfcli.WriteCLIConfig(cliPath, providerDir); err != nil {
		return err
	}
	s.tf = &tfcli.Workdir{CLI: o.terraform, Dir: s.dir, Timeout: o.cmdTimeout, Env: tfcli.Env(cliPath,
		"APPHOST_ENDPOINT="+srv.URL, "APPHOST_API_KEY_ID="+srv.AdminID, "APPHOST_API_KEY_SECRET="+srv.AdminKey)}
	s.seen = map[string]bool{}
	return nil
}

// tfResult is one Terraform command.
type tfResult struct {
	seconds    float64
	code       int
	summary    string
	rotationMS []float64
}

// terraform runs one command, its output and the provider's INFO log in
// files under logs.
func (s *set) terraform(ctx context.Context, name string, args ...string) (tfResult, error) {
	s.seq++
	logPath := filepath.Join(s.dir, "logs", fmt.Sprintf("%02d-%s.log", s.seq, name))
	tfLog := filepath.Join(s.dir, "logs", fmt.Sprintf("%02d-%s.provider.log", s.seq, name))
	res, err := s.tf.WithEnv("TF_LOG_PROVIDER=INFO", "TF_LOG_PATH="+tfLog).Run(ctx, args...)
	_ = os.WriteFile(logPath, []byte(res.Stdout+res.Stderr), 0o644)
	r := tfResult{seconds: res.Took.Seconds(), code: res.Code, summary: benchutil.SummaryLine([]byte(res.Output())),
		rotationMS: benchutil.ReadRotationMS(tfLog)}
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return r, fmt.Errorf("terraform %s timed out (BENCH_CMD_TIMEOUT); see %s", name, logPath)
	case err != nil:
		return r, err
	}
	return r, nil
}

func (s *set) args(o options, cmd string, round string) []string {
	return []string{cmd, "-input=false", "-no-color", "-parallelism=" + strconv.Itoa(o.parallelism), "-var", "rotation=" + round}
}

var applyRE = regexp.MustCompile(`Resources: (\d+) added, (\d+) changed, (\d+) destroyed`)

// apply applies round: want is the added, changed and destroyed counts.
func (s *set) apply(ctx context.Context, o options, round string, want [3]int) (tfResult, error) {
	name := "create"
	if want[1] > 0 {
		name = "rotate"
	}
	r, err := s.terraform(ctx, name, append(s.args(o, "apply", round), "-auto-approve")...)
	if err != nil {
		return r, err
	}
	if r.code != 0 {
		return r, fmt.Errorf("terraform apply exited with %d; see %s", r.code, filepath.Join(s.dir, "logs"))
	}
	var got [3]int
	m := applyRE.FindStringSubmatch(r.summary)
	if m != nil {
		for i := range got {
			got[i], _ = strconv.Atoi(m[i+1])
		}
	}
	if m == nil || got != want {
		return r, fmt.Errorf("expected %d added, %d changed, %d destroyed; terraform said %q", want[0], want[1], want[2], r.summary)
	}
	s.round = round
	return r, nil
}

// plan runs a refreshing plan of the current round, which must be empty.
func (s *set) plan(ctx context.Context, o options) error {
	r, err := s.terraform(ctx, "plan", append(s.args(o, "plan", s.round), "-detailed-exitcode")...)
	if err != nil {
		return err
	}
	switch r.code {
	case 0:
		return nil
	case 2:
		return fmt.Errorf("the plan after the apply is not empty: %s", r.summary)
	default:
		return fmt.Errorf("terraform plan exited with %d; see %s", r.code, filepath.Join(s.dir, "logs"))
	}
}

// ours reports whether rotation r is of one of the set's keys.
func (s *set) ours(r backend.Rotation) bool { return strings.HasPrefix(r.AccountName, s.keyPrefix()) }
