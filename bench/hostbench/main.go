// Command hostbench measures apps that run for real on an App Host: one
// server (`terraform-provider-apphost serve` on SQLite) and App Hosts
// (`terraform-provider-apphost host`) on loopback, and three sets of N apps,
// each app bound to its own key account, the apps, the keys and the bound
// app secrets (no value: the backend fills them) in Terraform:
//
//   - exec: N example apps (`terraform-provider-apphost example-app`) as
//     processes of one App Host with the exec driver;
//   - virtual: N apps on an App Host with the virtual driver (each start a
//     login over HTTP from inside the App Host, no process);
//   - built-in: N apps on a name no App Host account claims (the backend's
//     built-in App Host: each start a login inside the backend's call).
//   - overlap-reload and overlap-restart: N example apps each on an exec App
//     Host of their own, several per key (rotation_strategy = "overlap"),
//     with reload_signal (every app must keep its process and never stop)
//     and without (each app down for its own restart only, never two apps
//     of one key at once).
//
// Each round, alternating between the sets, it starts W other example apps
// (made and deployed through the API) at once on the exec App Host (their
// cold start: the deploy's transaction to the app's first proven login,
// both by the server's clock), and applies a rotation of every key of each
// set in one `terraform apply`. It prints each
// exec app's downtime (the rotation steps: its stop to its first login with
// the new secret_version) against the cold start, the failed logins, the
// App Host's memory per app, and how much longer a rotation takes with the
// App Host round trips (virtual) than on the built-in App Host.
//
// scripts/bench.sh builds the binaries and runs it; see its header for the
// environment variables.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

type options struct {
	n             int
	runs          int
	parallelism   int
	wave          int    // apps started at once for the cold start
	overlapPerKey int    // apps per key of the overlap sets; 0: no overlap sets
	loginInterval string // the example app's login_interval
	cmdTimeout    time.Duration
	keep          bool
	dir           string
	terraform     string
	provider      string
}

func main() {
	var o options
	flag.StringVar(&o.provider, "provider", "", "terraform-provider-apphost binary (required)")
	flag.StringVar(&o.terraform, "terraform", os.Getenv("BENCH_TERRAFORM"),
		"Terraform CLI (default: $TF_ACC_TERRAFORM_PATH, else terraform, else tofu on PATH)")
	flag.Parse()
	if o.provider == "" {
		fmt.Fprintln(os.Stderr, "hostbench: -provider is required (scripts/bench.sh builds it)")
		os.Exit(2)
	}
	var err error
	if o.terraform == "" {
		if o.terraform, err = tfcli.Find(); err != nil {
			fatalf("%v", err)
		}
	}
	o.n = positive("BENCH_HOST_N", 50)
	o.runs = positive("BENCH_HOST_RUNS", 3)
	o.parallelism = positive("BENCH_PARALLELISM", 10)
	o.wave = positive("BENCH_HOST_WAVE", o.parallelism)
	o.loginInterval = envOr("BENCH_HOST_LOGIN_INTERVAL", "5s")
	if os.Getenv("BENCH_HOST_OVERLAP") != "0" {
		o.overlapPerKey = positive("BENCH_HOST_OVERLAP_PER_KEY", 5)
	}
	if _, err := time.ParseDuration(o.loginInterval); err != nil {
		fatalf("BENCH_HOST_LOGIN_INTERVAL: %v", err)
	}
	if o.cmdTimeout, err = time.ParseDuration(envOr("BENCH_CMD_TIMEOUT", "20m")); err != nil {
		fatalf("BENCH_CMD_TIMEOUT: %v", err)
	}
	o.keep = os.Getenv("BENCH_KEEP") == "1"
	if o.provider, err = filepath.Abs(o.provider); err != nil {
		fatalf("%v", err)
	}
	if d := os.Getenv("BENCH_DIR"); d != "" {
		o.dir = filepath.Join(d, "host")
		err = os.MkdirAll(o.dir, 0o755)
	} else {
		o.dir, err = os.MkdirTemp("", "apphost-hostbench-")
	}
	if err != nil {
		fatalf("%v", err)
	}
	if o.dir, err = filepath.Abs(o.dir); err != nil {
		fatalf("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, out: os.Stdout, log: os.Stderr}
	code := b.run(ctx)
	if !o.keep && code == 0 {
		_ = os.RemoveAll(o.dir)
	} else {
		fmt.Fprintf(os.Stderr, "hostbench: kept the work directory %s (server/, hosts under exec/ and virtual/, "+
			"Terraform logs under SET/logs)\n", o.dir)
	}
	os.Exit(code)
}

type bench struct {
	o   options
	out io.Writer
	log io.Writer
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func positive(k string, def int) int {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		fatalf("%s must be a positive integer", k)
	}
	return n
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hostbench: "+format+"\n", args...)
	os.Exit(2)
}
