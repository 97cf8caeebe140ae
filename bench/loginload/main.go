// Command loginload is a loopback load test of the login path (POST
// /v1/login): a fixed number of concurrent clients log in with one account for
// a bounded time (and a bounded count), against, in one run:
//
//   - a bare net/http handler that only decodes the body (this machine's limit),
//     in its own process;
//   - the real server (`terraform-provider-apphost serve`) on SQLite;
//   - the real server on PostgreSQL, when APPHOST_TEST_POSTGRES_DSN is set.
//
// It prints logins per second, p50, p99 and max latency, errors, and the
// server's peak RSS. Everything listens on 127.0.0.1 only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apphost/terraform-provider-apphost/bench/benchutil"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

type options struct {
	provider string
	clients  int
	duration time.Duration
	warmup   time.Duration
	maxCount int64
	dsn      string
}

func main() {
	var o options
	serveBare := flag.Bool("serve-bare", false, "internal: serve the bare handler on a loopback port and print it")
	flag.StringVar(&o.provider, "provider", "", "terraform-provider-apphost binary (required)")
	flag.IntVar(&o.clients, "clients", 50, "concurrent clients")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per target (bounded)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up per target")
	flag.Int64Var(&o.maxCount, "max", 2_000_000, "stop a target after this many logins")
	flag.Parse()
	if *serveBare {
		os.Exit(runBare())
	}
	if o.provider == "" {
		fmt.Fprintln(os.Stderr, "loginload: -provider is required")
		os.Exit(2)
	}
	if o.clients < 1 || o.clients > 1000 || o.duration <= 0 || o.duration > 10*time.Minute {
		fmt.Fprintln(os.Stderr, "loginload: -clients must be 1..1000 and -duration 0..10m")
		os.Exit(2)
	}
	o.dsn = os.Getenv("APPHOST_TEST_POSTGRES_DSN")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, o))
}

type target struct {
	name  string
	start func(ctx context.Context, dir string) (url string, body []byte, pid int, stop func(), err error)
}

type outcome struct {
	name    string
	ok      int64
	errs    int64
	elapsed time.Duration
	lat     []time.Duration
	peakKB  int64
	err     error
}

func run(ctx context.Context, o options) int {
	dir, err := os.MkdirTemp("", "apphost-loginload-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	targets := []target{
		{"bare net/http", startBare},
		{"server sqlite", func(ctx context.Context, dir string) (string, []byte, int, func(), error) {
			return startServer(ctx, o, "sqlite:"+filepath.Join(dir, "apphost.db"), "", dir)
		}},
	}
	if o.dsn != "" {
		targets = append(targets, target{"server postgres", func(ctx context.Context, dir string) (string, []byte, int, func(), error) {
			store, drop, err := benchutil.PostgresSchema(ctx, o.dsn, "apphost_bench_login")
			if err != nil {
				return "", nil, 0, nil, err
			}
			url, body, pid, stop, err := startServer(ctx, o, store, filepath.Join(dir, "apphost.key"), dir)
			if err != nil {
				drop()
				return "", nil, 0, nil, err
			}
			return url, body, pid, func() { stop(); drop() }, nil
		}})
	}

	fmt.Printf("login load test: %d clients, %s per target (+%s warm-up), at most %d logins; %d CPUs (%s); loopback\n",
		o.clients, o.duration, o.warmup, o.maxCount, runtime.NumCPU(), cpuModel())
	if o.dsn == "" {
		fmt.Println("(PostgreSQL skipped: APPHOST_TEST_POSTGRES_DSN is not set)")
	}
	var results []outcome
	failed := false
	for i, t := range targets {
		if ctx.Err() != nil {
			break
		}
		tdir := filepath.Join(dir, fmt.Sprintf("t%d", i))
		_ = os.MkdirAll(tdir, 0o755)
		r := measure(ctx, o, t, tdir)
		if r.err != nil || r.errs > 0 {
			failed = true
		}
		results = append(results, r)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tlogins/s\tvs bare\tp50 ms\tp99 ms\tmax ms\tlogins\terrors\tserver RSS\t")
	var bare float64
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\tFAILED: %v\t\t\t\t\t\t\t\t\n", r.name, r.err)
			continue
		}
		rate := float64(r.ok) / r.elapsed.Seconds()
		if r.name == "bare net/http" {
			bare = rate
		}
		vs := "-"
		if bare > 0 {
			vs = fmt.Sprintf("%.2fx", rate/bare)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.2f\t%.2f\t%.2f\t%d\t%d\t%s\t\n", r.name, rate, vs,
			ms(pct(r.lat, 0.50)), ms(pct(r.lat, 0.99)), ms(pct(r.lat, 1)), r.ok, r.errs, mbs(r.peakKB))
	}
	_ = tw.Flush()
	if failed {
		return 1
	}
	return 0
}

func measure(ctx context.Context, o options, t target, dir string) outcome {
	r := outcome{name: t.name}
	url, body, pid, stop, err := t.start(ctx, dir)
	if err != nil {
		r.err = err
		return r
	}
	defer stop()

	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        o.clients,
		MaxIdleConnsPerHost: o.clients,
		IdleConnTimeout:     30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// Warm-up: connections, caches, the store's pool.
	_, _ = load(ctx, hc, url, body, o.clients, o.warmup, o.maxCount, false)

	start := time.Now()
	lats, errs := load(ctx, hc, url, body, o.clients, o.duration, o.maxCount, true)
	r.elapsed = time.Since(start)
	r.lat = lats
	r.ok = int64(len(lats))
	r.errs = errs
	if pid > 0 {
		r.peakKB = benchutil.PeakRSSKB(pid)
	}
	if ctx.Err() != nil {
		r.err = ctx.Err()
	}
	fmt.Fprintf(os.Stderr, "loginload: %s: %d logins in %.1fs, %d errors\n", t.name, r.ok, r.elapsed.Seconds(), errs)
	return r
}

// load runs clients goroutines posting body until d passes or max logins
// succeed; it returns the latencies of the successful logins.
func load(ctx context.Context, hc *http.Client, url string, body []byte, clients int, d time.Duration, maxCount int64, keep bool) ([]time.Duration, int64) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var count, errs atomic.Int64
	var firstErr atomic.Value
	per := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && count.Load() < maxCount {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/login", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d", resp.StatusCode))
					continue
				}
				count.Add(1)
				if keep {
					per[i] = append(per[i], time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil && keep {
		fmt.Fprintf(os.Stderr, "loginload: first error: %v\n", e)
	}
	var all []time.Duration
	for _, p := range per {
		all = append(all, p...)
	}
	slices.Sort(all)
	return all, errs.Load()
}

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mbs(kb int64) string {
	if kb <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MB", float64(kb)/1024)
}

// startServer starts the real server over store and creates the account the
// clients log in with.
func startServer(ctx context.Context, o options, store, keyFile, dir string) (string, []byte, int, func(), error) {
	srv, err := benchutil.StartServer(ctx, o.provider, store, keyFile, filepath.Join(dir, "server.log"))
	if err != nil {
		return "", nil, 0, nil, err
	}
	api, err := client.New(client.Config{Endpoint: srv.URL, APIKeyID: srv.AdminID, APIKeySecret: srv.AdminKey, UserAgent: "apphost-loginload"})
	if err != nil {
		srv.Stop()
		return "", nil, 0, nil, err
	}
	acct, err := api.CreateAccount(ctx, backend.CreateAccountRequest{Name: "loginload"})
	if err != nil {
		srv.Stop()
		return "", nil, 0, nil, fmt.Errorf("creating the account: %w", err)
	}
	body, _ := json.Marshal(backend.LoginRequest{AccountID: acct.ID, Secret: acct.Secret})
	return srv.URL, body, srv.PID(), srv.Stop, nil
}

// startBare starts this program's bare handler in a process of its own, as
// the server runs in one.
func startBare(ctx context.Context, _ string) (string, []byte, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, 0, nil, err
	}
	// stop stops it: SIGTERM, then SIGKILL if it has not exited in 10s.
	procCtx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(procCtx, self, "-serve-bare") //nolint:gosec // this program
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stderr = os.Stderr
	stop := func() {
		cancel()
		_ = cmd.Wait()
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return "", nil, 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, 0, nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, 0, nil, errors.New("the bare handler did not start")
	}
	body, _ := json.Marshal(backend.LoginRequest{AccountID: "00000000-0000-0000-0000-000000000000", Secret: benchutil.RandomSecret()})
	return strings.TrimSpace(line), body, cmd.Process.Pid, stop, nil
}

// runBare serves the bare login handler until SIGTERM.
func runBare() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/login", func(w http.ResponseWriter, r *http.Request) {
		var req backend.LoginRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.AccountID == "" {
			http.Error(w, `{"code":"invalid"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
