// Command tfbench measures the apphost provider against two floors at N key
// accounts, N apps and N app secrets: Terraform's built-in terraform_data with
// the same graph, and the same provider and domain over an in-memory store
// (the "no-I/O" provider, bench/nullprovider). For each N it runs, in one
// run and alternating between the backends, RUNS rounds of a refreshing
// `terraform plan` and a rotation apply that regenerates every key (one
// in-place update, one RegenerateSecret, per key), and prints the medians, the
// ratios to both floors, the provider's peak RSS, each app's downtime during
// the rotation (undeploy to deploy, from the audit log) and each rotation
// transaction's time, its wait for the write lock included (the rotation_ms
// field of the provider's log).
//
// The backends (BENCH_BACKENDS): terraform_data, no-io, embedded, serve on
// SQLite, the same with the apps on a real App Host that runs the virtual
// driver (server-sqlite-virtual-host: each rotation then waits for the App
// Host to stop and start its apps), serve on PostgreSQL, and, on request,
// the embedded backend of the provider built at another commit
// (embedded-base, -provider-base).
//
// scripts/bench.sh builds the binaries and runs it; see its header for the
// environment variables.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apphost/terraform-provider-apphost/bench/benchutil"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// Backend kinds, in the order they run and print.
const (
	kindTFData   = "terraform_data"
	kindNoIO     = "no-io"
	kindEmbedded = "embedded"
	// kindEmbeddedBase is the embedded backend of the provider built at
	// another commit (-provider-base), to measure what a change costs.
	kindEmbeddedBase = "embedded-base"
	kindServerSQ     = "server-sqlite"
	// kindVirtualHost is serve on SQLite with the apps on a real App Host
	// (terraform-provider-apphost host) that runs the virtual driver.
	kindVirtualHost = "server-sqlite-virtual-host"
	kindServerPG    = "server-postgres"
)

// virtualHost is the App Host of the kindVirtualHost apps.
const virtualHost = "bench-virtual"

type options struct {
	ns          []int
	runs        int
	parallelism int
	kinds       []string
	cmdTimeout  time.Duration
	keep        bool
	dir         string
	terraform   string
	provider    string // the real provider binary
	base        string // the provider built at another commit (embedded-base)
	noio        string // the no-I/O provider binary
	rsswrap     string // the RSS wrapper binary
	postgresDSN string
	jsonOut     string
}

func main() {
	var o options
	flag.StringVar(&o.provider, "provider", "", "terraform-provider-apphost binary (required)")
	flag.StringVar(&o.noio, "noio", "", "no-I/O provider binary (bench/nullprovider; required)")
	flag.StringVar(&o.base, "provider-base", "", "the provider built at another commit, for the embedded-base backend")
	flag.StringVar(&o.rsswrap, "rsswrap", "", "RSS wrapper binary (bench/rsswrap); empty: no RSS figures")
	flag.StringVar(&o.terraform, "terraform", os.Getenv("BENCH_TERRAFORM"),
		"Terraform CLI (default: $TF_ACC_TERRAFORM_PATH, else terraform, else tofu on PATH)")
	flag.StringVar(&o.jsonOut, "json", os.Getenv("BENCH_JSON"), "also write the results as JSON to this file")
	flag.Parse()
	if o.provider == "" || o.noio == "" {
		fmt.Fprintln(os.Stderr, "tfbench: -provider and -noio are required (scripts/bench.sh builds them)")
		os.Exit(2)
	}

	var err error
	if o.terraform == "" {
		if o.terraform, err = tfcli.Find(); err != nil {
			fatalf("%v", err)
		}
	}
	if o.ns, err = intList(envOr("BENCH_N", "100 300 1000")); err != nil {
		fatalf("BENCH_N: %v", err)
	}
	if o.runs, err = strconv.Atoi(envOr("BENCH_RUNS", "3")); err != nil || o.runs < 1 {
		fatalf("BENCH_RUNS must be a positive integer")
	}
	if o.parallelism, err = strconv.Atoi(envOr("BENCH_PARALLELISM", "10")); err != nil || o.parallelism < 1 {
		fatalf("BENCH_PARALLELISM must be a positive integer")
	}
	if o.cmdTimeout, err = time.ParseDuration(envOr("BENCH_CMD_TIMEOUT", "20m")); err != nil {
		fatalf("BENCH_CMD_TIMEOUT: %v", err)
	}
	o.keep = os.Getenv("BENCH_KEEP") == "1"
	o.postgresDSN = os.Getenv("APPHOST_TEST_POSTGRES_DSN")
	o.kinds = strings.Fields(envOr("BENCH_BACKENDS",
		strings.Join([]string{kindTFData, kindNoIO, kindEmbedded, kindServerSQ, kindVirtualHost, kindServerPG}, " ")))
	for _, k := range o.kinds {
		switch k {
		case kindTFData, kindNoIO, kindEmbedded, kindServerSQ, kindVirtualHost, kindServerPG:
		case kindEmbeddedBase:
			if o.base == "" {
				fatalf("BENCH_BACKENDS: %s needs the provider built at another commit: set BENCH_BASE_REF "+
					"(scripts/bench.sh builds it), or pass -provider-base", k)
			}
		default:
			fatalf("BENCH_BACKENDS: unknown backend %q", k)
		}
	}
	for _, p := range []*string{&o.provider, &o.noio, &o.rsswrap, &o.base} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				fatalf("%v", err)
			}
		}
	}

	o.dir = os.Getenv("BENCH_DIR")
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "apphost-bench-"); err != nil {
			fatalf("%v", err)
		}
	} else if err := os.MkdirAll(o.dir, 0o755); err != nil {
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
		// On failure the logs are what the reader needs.
		fmt.Fprintf(os.Stderr, "tfbench: kept the work directory %s (logs under N*/BACKEND/logs)\n", o.dir)
	}
	os.Exit(code)
}

type bench struct {
	o       options
	out     io.Writer
	log     io.Writer
	machine benchutil.Machine
	results []*cell
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *bench) run(ctx context.Context) int {
	b.machine = benchutil.ReadMachine(ctx, b.o.terraform)
	b.machine.Print(b.out)
	fmt.Fprintf(b.out, "settings:  N=%v runs=%d parallelism=%d backends=%s\n",
		b.o.ns, b.o.runs, b.o.parallelism, strings.Join(b.o.kinds, ","))
	fmt.Fprintf(b.out, "work dir:  %s\n\n", b.o.dir)

	failed := false
	for _, n := range b.o.ns {
		cells, err := b.runN(ctx, n)
		b.results = append(b.results, cells...)
		if err != nil {
			b.logf("N=%d: %v", n, err)
			failed = true
		}
		for _, c := range cells {
			if len(c.Errors) > 0 {
				failed = true
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintln(b.out)
	fmt.Fprintln(b.out, "== summary: medians of the rounds; ratios to terraform_data and to the no-I/O provider at the same N ==")
	printTable(b.out, b.results)
	printNotes(b.out, b.results)
	if b.o.jsonOut != "" {
		if err := writeJSON(b.o.jsonOut, b.machine, b.results); err != nil {
			b.logf("writing %s: %v", b.o.jsonOut, err)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

// runN sets up every backend at N, then runs the rounds.
func (b *bench) runN(ctx context.Context, n int) ([]*cell, error) {
	var cells []*cell
	defer func() {
		for _, c := range cells {
			c.ws.close()
		}
	}()
	for _, kind := range b.o.kinds {
		c := &cell{N: n, Kind: kind}
		if kind == kindServerPG && b.o.postgresDSN == "" {
			b.logf("N=%d %s: skipped (APPHOST_TEST_POSTGRES_DSN is not set; scripts/postgres.sh start DIR prints it)", n, kind)
			continue
		}
		ws, err := b.newWorkspace(ctx, n, kind)
		if err != nil {
			c.fail("setup: %v", err)
			b.logf("N=%d %s: setup failed: %v", n, kind, err)
			cells = append(cells, c)
			continue
		}
		c.ws = ws
		cells = append(cells, c)
	}

	// Create everything (not a measured figure, but shown).
	for _, c := range cells {
		if c.ws == nil || ctx.Err() != nil {
			continue
		}
		b.logf("N=%d %-16s create ...", n, c.Kind)
		r, err := c.ws.apply(ctx, "0", 0)
		if err != nil {
			c.fail("create: %v", err)
			b.logf("N=%d %-16s create FAILED: %v", n, c.Kind, err)
			c.ws.close()
			c.ws = nil
			continue
		}
		c.CreateS = r.seconds
		c.notePeak(r.peakKB)
		b.logf("N=%d %-16s create %.2fs", n, c.Kind, r.seconds)
		if c.ws.host != nil {
			// The rotations start from apps that run, as on the built-in App Host.
			if err := c.ws.waitRunning(ctx); err != nil {
				c.fail("create: %v", err)
			}
		}
		if err := c.ws.markAudit(ctx); err != nil {
			c.fail("reading the audit log: %v", err)
		}
	}

	for round := 1; round <= b.o.runs && ctx.Err() == nil; round++ {
		// Rotate the order each round so that no backend always runs first.
		for i := range cells {
			c := cells[(i+round-1)%len(cells)]
			if c.ws == nil || ctx.Err() != nil {
				continue
			}
			p, err := c.ws.plan(ctx)
			if err != nil {
				c.fail("plan %d: %v", round, err)
				b.logf("N=%d %-16s plan %d FAILED: %v", n, c.Kind, round, err)
				continue
			}
			c.PlanS = append(c.PlanS, p.seconds)
			c.notePeak(p.peakKB)
			if !p.empty {
				c.fail("plan %d was not empty after apply: %s", round, p.summary)
			}

			a, err := c.ws.apply(ctx, strconv.Itoa(round), n)
			if err != nil {
				c.fail("rotation apply %d: %v", round, err)
				b.logf("N=%d %-16s rotation %d FAILED: %v", n, c.Kind, round, err)
				continue
			}
			c.ApplyS = append(c.ApplyS, a.seconds)
			c.notePeak(a.peakKB)
			if c.Kind != kindTFData {
				c.RotationMS = append(c.RotationMS, a.rotationMS...)
				if len(a.rotationMS) != n {
					c.RotationLogMissing += n - len(a.rotationMS)
				}
			}
			d, err := c.ws.rotationAudit(ctx)
			if err != nil {
				c.fail("reading the audit log: %v", err)
			} else if d != nil {
				c.Downtime = append(c.Downtime, d.downtimes...)
				c.DowntimeMS = append(c.DowntimeMS, d.downtimeMS...)
				c.FailedLogins += d.failedLogins
				c.Locks += d.locks
				if d.missing > 0 {
					c.fail("rotation %d: %d apps were undeployed and not deployed again", round, d.missing)
				}
			}
			b.logf("N=%d %-16s round %d: plan %.2fs, rotation apply %.2fs, provider peak RSS %s",
				n, c.Kind, round, p.seconds, a.seconds, mb(max(p.peakKB, a.peakKB)))
		}
	}
	for _, c := range cells {
		if c.ws != nil {
			c.ServerPeakKB = c.ws.serverPeakKB()
		}
	}
	fmt.Fprintf(b.out, "-- N=%d --\n", n)
	printTable(b.out, cells)
	return cells, ctx.Err()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no value")
	}
	return out, nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tfbench: "+format+"\n", args...)
	os.Exit(2)
}

func writeJSON(path string, m benchutil.Machine, cells []*cell) error {
	data, err := json.MarshalIndent(struct {
		Machine benchutil.Machine `json:"machine"`
		Results []*cell           `json:"results"`
	}{m, cells}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
