package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/bench/benchutil"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
	"github.com/apphost/terraform-provider-apphost/testutil/memstore"
)

// workspace is one backend at one N: a directory with the configuration, the
// CLI configuration that points Terraform at the provider binary, the
// environment, and for a server backend the server.
type workspace struct {
	o        options
	n        int
	kind     string
	dir      string
	tf       *tfcli.Workdir // the CLI in dir, its environment picking the backend
	rssLog   string
	rotation string // the rotation variable's current value
	seq      int    // command counter, for log file names

	storePath string // embedded: the SQLite file
	memPath   string // no-io: the in-memory store's snapshot file
	server    *benchutil.Server
	host      *benchutil.Host // kindVirtualHost: the App Host of the apps
	api       *client.Client
	dropPG    func()
	auditSeq  int64
}

// newWorkspace writes the configuration of kind at n and starts its server.
func (b *bench) newWorkspace(ctx context.Context, n int, kind string) (*workspace, error) {
	o := b.o
	ws := &workspace{o: o, n: n, kind: kind, dir: filepath.Join(o.dir, fmt.Sprintf("N%d", n), kind)}
	if err := os.MkdirAll(filepath.Join(ws.dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	config := providerConfig(n, "")
	switch kind {
	case kindVirtualHost:
		config = providerConfig(n, virtualHost)
	case kindTFData:
		config = terraformDataConfig(n)
	}
	if err := os.WriteFile(filepath.Join(ws.dir, "main.tf"), []byte(config), 0o644); err != nil {
		return nil, err
	}

	var extra []string
	providerDir := "" // terraform_data: no provider to serve
	if kind != kindTFData {
		target := o.provider
		switch kind {
		case kindNoIO:
			target = o.noio
		case kindEmbeddedBase:
			target = o.base
		}
		providerDir = filepath.Join(ws.dir, "bin")
		if err := os.MkdirAll(providerDir, 0o755); err != nil {
			return nil, err
		}
		link := target
		if o.rsswrap != "" {
			link = o.rsswrap
			ws.rssLog = filepath.Join(ws.dir, "rss.log")
			extra = append(extra, "BENCH_RSS_TARGET="+target, "BENCH_RSS_LOG="+ws.rssLog)
		}
		if err := os.Symlink(link, filepath.Join(providerDir, "terraform-provider-apphost")); err != nil {
			return nil, err
		}
	}
	cliPath := filepath.Join(ws.dir, "terraformrc")
	if err := tfcli.WriteCLIConfig(cliPath, providerDir); err != nil {
		return nil, err
	}
	ws.tf = &tfcli.Workdir{CLI: o.terraform, Dir: ws.dir, Env: tfcli.Env(cliPath, extra...), Timeout: o.cmdTimeout}

	switch kind {
	case kindNoIO:
		ws.memPath = filepath.Join(ws.dir, "mem.gob")
		ws.tf.Env = append(ws.tf.Env, "APPHOST_BENCH_MEMSTORE="+ws.memPath)
	case kindEmbedded, kindEmbeddedBase:
		ws.storePath = filepath.Join(ws.dir, ".apphost", "apphost.db")
		ws.tf.Env = append(ws.tf.Env, "APPHOST_STORE_PATH="+ws.storePath)
	case kindServerSQ, kindVirtualHost, kindServerPG:
		store := "sqlite:" + filepath.Join(ws.dir, "server", "apphost.db")
		keyFile := ""
		if kind == kindServerPG {
			dsn, drop, err := benchutil.PostgresSchema(ctx, o.postgresDSN, fmt.Sprintf("apphost_bench_n%d", n))
			if err != nil {
				return nil, err
			}
			ws.dropPG = drop
			store = dsn
			keyFile = filepath.Join(ws.dir, "server", "apphost.key")
		}
		if err := os.MkdirAll(filepath.Join(ws.dir, "server"), 0o755); err != nil {
			return nil, err
		}
		srv, err := benchutil.StartServer(ctx, o.provider, store, keyFile, filepath.Join(ws.dir, "server", "server.log"))
		if err != nil {
			ws.close()
			return nil, err
		}
		ws.server = srv
		ws.tf.Env = append(ws.tf.Env,
			"APPHOST_ENDPOINT="+srv.URL,
			"APPHOST_API_KEY_ID="+srv.AdminID,
			"APPHOST_API_KEY_SECRET="+srv.AdminKey,
		)
		ws.api, err = client.New(client.Config{
			Endpoint: srv.URL, APIKeyID: srv.AdminID, APIKeySecret: srv.AdminKey,
			UserAgent: "apphost-bench", Timeout: 5 * time.Minute,
		})
		if err != nil {
			ws.close()
			return nil, err
		}
		if kind == kindVirtualHost {
			ws.host, err = benchutil.StartHost(ctx, o.provider, ws.api, srv.URL, virtualHost, "virtual", filepath.Join(ws.dir, "host"))
			if err != nil {
				ws.close()
				return nil, err
			}
		}
	}
	return ws, nil
}

// waitRunning waits until every app of the workspace's App Host runs.
func (ws *workspace) waitRunning(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Minute)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		apps, err := ws.api.ListApps(ctx, backend.ListAppsRequest{AppHost: ws.host.Name})
		if err != nil {
			return err
		}
		running := 0
		for _, a := range apps {
			if a.Status == backend.StatusRunning {
				running++
			}
		}
		if running >= ws.n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d apps on App Host %s run after 10m", running, ws.n, ws.host.Name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait): // polling the server for a state, with a deadline
		}
	}
}

func (ws *workspace) close() {
	if ws == nil {
		return
	}
	ws.host.Stop()
	ws.host = nil
	ws.server.Stop()
	ws.server = nil
	if ws.dropPG != nil {
		ws.dropPG()
		ws.dropPG = nil
	}
}

func (ws *workspace) serverPeakKB() int64 {
	if ws.server == nil {
		return 0
	}
	return ws.server.PeakRSSKB()
}

// providerConfig is benchutil.RotationConfig; appHost, if not empty, is
// the apps' app_host.
func providerConfig(n int, appHost string) string {
	c := benchutil.RotationConfig{N: n, KeyName: `"bench-key-${count.index}"`, AppName: `"bench-app-${count.index}"`,
		SecretName: "api-key"}
	if appHost != "" {
		c.AppAttributes = fmt.Sprintf("  app_host = %q\n", appHost)
	}
	return c.HCL()
}

// terraformDataConfig is the same graph on terraform_data: a key's input
// changes with the rotation (an in-place update), and each secret refers to
// its key's ID, which a rotation leaves as it is.
func terraformDataConfig(n int) string {
	return fmt.Sprintf(`variable "rotation" {
  type = string
}

resource "terraform_data" "k" {
  count = %[1]d
  input = { name = "bench-key-${count.index}", round = var.rotation }
}

resource "terraform_data" "a" {
  count = %[1]d
  input = { name = "bench-app-${count.index}" }
}

resource "terraform_data" "s" {
  count = %[1]d
  input = { app_id = terraform_data.a[count.index].id, name = "api-key", api_key_account_id = terraform_data.k[count.index].id }
}
`, n)
}

// result is one measured Terraform command.
type result struct {
	seconds float64
	peakKB  int64
	empty   bool   // plan: no changes
	summary string // the "Plan:" or "Apply complete!" line
	// rotationMS holds the rotation_ms field of every "Rotated API key
	// account secret" line of the provider's log: each RegenerateSecret
	// call, its wait for the store's write lock included.
	rotationMS []float64
}

// terraform runs one command in the workspace, its output going to a log
// file and the provider's INFO log (TF_LOG_PROVIDER, for every backend alike)
// to another.
func (ws *workspace) terraform(ctx context.Context, name string, args ...string) (result, int, error) {
	ws.seq++
	logPath := filepath.Join(ws.dir, "logs", fmt.Sprintf("%02d-%s.log", ws.seq, name))
	tfLogPath := filepath.Join(ws.dir, "logs", fmt.Sprintf("%02d-%s.provider.log", ws.seq, name))
	logf, err := os.Create(logPath)
	if err != nil {
		return result{}, 0, err
	}
	defer func() { _ = logf.Close() }()
	if ws.rssLog != "" {
		_ = os.Remove(ws.rssLog)
	}
	res, err := ws.tf.WithEnv("TF_LOG_PROVIDER=INFO", "TF_LOG_PATH="+tfLogPath).Run(ctx, args...)
	r := result{seconds: res.Took.Seconds()}
	_, _ = logf.WriteString(res.Stdout)
	_, _ = logf.WriteString(res.Stderr)
	r.summary = benchutil.SummaryLine([]byte(res.Output()))
	r.peakKB = ws.readRSS()
	r.rotationMS = benchutil.ReadRotationMS(tfLogPath)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return r, -1, fmt.Errorf("timed out after %s (BENCH_CMD_TIMEOUT); see %s", ws.o.cmdTimeout, logPath)
	case err != nil:
		return r, -1, err
	}
	return r, res.Code, nil
}

// readRSS returns the largest peak RSS the wrapper logged for this command.
func (ws *workspace) readRSS() int64 {
	if ws.rssLog == "" {
		return 0
	}
	data, err := os.ReadFile(ws.rssLog)
	if err != nil {
		return 0
	}
	var peak int64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			peak = max(peak, kb)
		}
	}
	return peak
}

func (ws *workspace) commonArgs() []string {
	return []string{"-input=false", "-no-color", "-parallelism=" + strconv.Itoa(ws.o.parallelism)}
}

// plan runs a refreshing plan with the current rotation value: it must be empty.
func (ws *workspace) plan(ctx context.Context) (result, error) {
	args := append([]string{"plan"}, ws.commonArgs()...)
	args = append(args, "-detailed-exitcode", "-var", "rotation="+ws.rotation)
	r, code, err := ws.terraform(ctx, "plan", args...)
	if err != nil {
		return r, err
	}
	switch code {
	case 0:
		r.empty = true
	case 2:
	default:
		return r, fmt.Errorf("terraform plan exited with %d; see %s", code, filepath.Join(ws.dir, "logs"))
	}
	return r, nil
}

var applyRE = regexp.MustCompile(`Resources: (\d+) added, (\d+) changed, (\d+) destroyed`)

// apply applies rotation; rotateN > 0 expects a rotation of rotateN keys
// (0 added, N changed, 0 destroyed: each key an in-place update, the app
// secrets untouched), 0 the creation of everything.
func (ws *workspace) apply(ctx context.Context, rotation string, rotateN int) (result, error) {
	args := append([]string{"apply"}, ws.commonArgs()...)
	args = append(args, "-auto-approve", "-var", "rotation="+rotation)
	name := "create"
	if rotateN > 0 {
		name = "rotate"
	}
	r, code, err := ws.terraform(ctx, name, args...)
	if err != nil {
		return r, err
	}
	if code != 0 {
		return r, fmt.Errorf("terraform apply exited with %d; see %s", code, filepath.Join(ws.dir, "logs"))
	}
	want := [3]int{3 * ws.n, 0, 0}
	if rotateN > 0 {
		want = [3]int{0, rotateN, 0}
	}
	m := applyRE.FindStringSubmatch(r.summary)
	var got [3]int
	if m != nil {
		for i := range got {
			got[i], _ = strconv.Atoi(m[i+1])
		}
	}
	if m == nil || got != want {
		return r, fmt.Errorf("expected %d added, %d changed, %d destroyed; terraform said %q", want[0], want[1], want[2], r.summary)
	}
	ws.rotation = rotation
	return r, nil
}

// audit returns the audit events after seq, or nil for a backend without one.
func (ws *workspace) audit(ctx context.Context, after int64) ([]backend.AuditEvent, error) {
	switch {
	case ws.api != nil:
		return ws.api.ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: after})
	case ws.memPath != "":
		return memAudit(ctx, ws.memPath, after)
	case ws.storePath != "":
		bin := ws.o.provider
		if ws.kind == kindEmbeddedBase {
			bin = ws.o.base // the store is its; a newer binary might upgrade it
		}
		cmd := exec.CommandContext(ctx, bin, "audit", "--store", "sqlite:"+ws.storePath, "--json", //nolint:gosec // the benchmark's own binary
			"--after", strconv.FormatInt(after, 10))
		cmd.Env = tfcli.CleanEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
		}
		var events []backend.AuditEvent
		dec := json.NewDecoder(bytes.NewReader(out))
		for dec.More() {
			var e backend.AuditEvent
			if err := dec.Decode(&e); err != nil {
				return nil, err
			}
			events = append(events, e)
		}
		return events, nil
	}
	return nil, nil
}

// memAudit reads the audit log of the no-I/O floor's snapshot through the
// domain, as the embedded backend's audit command reads its store.
func memAudit(ctx context.Context, path string, after int64) ([]backend.AuditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	st, err := memstore.Load(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	return core.NewService(st, nil, core.Options{}).ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: after})
}

// markAudit remembers the last audit sequence number.
func (ws *workspace) markAudit(ctx context.Context) error {
	events, err := ws.audit(ctx, ws.auditSeq)
	if err != nil {
		return err
	}
	for _, e := range events {
		ws.auditSeq = max(ws.auditSeq, e.Seq)
	}
	return nil
}

// downtime is what the audit log says about one rotation.
type downtime struct {
	downtimes    []float64 // seconds from each app's undeploy to its deploy
	downtimeMS   []float64 // the downtime_ms detail of each app.deploy that has one
	missing      int       // apps undeployed and not deployed again
	failedLogins int
	locks        int
}

var downtimeMSRE = regexp.MustCompile(`downtime_ms=([0-9]+(?:\.[0-9]+)?)`)

// rotationAudit reads the events since the last mark: each app's first
// undeploy and the deploy after it, and the downtime_ms the backend put in
// each app.deploy.
func (ws *workspace) rotationAudit(ctx context.Context) (*downtime, error) {
	if ws.api == nil && ws.storePath == "" && ws.memPath == "" {
		return nil, nil
	}
	events, err := ws.audit(ctx, ws.auditSeq)
	if err != nil {
		return nil, err
	}
	d := &downtime{}
	down := map[string]time.Time{}
	up := map[string]time.Time{}
	for _, e := range events {
		ws.auditSeq = max(ws.auditSeq, e.Seq)
		switch e.Action {
		case backend.ActionAppUndeploy:
			if _, ok := down[e.TargetID]; !ok {
				down[e.TargetID] = e.Time
			}
		case backend.ActionAppDeploy:
			if t, ok := down[e.TargetID]; ok && !e.Time.Before(t) {
				up[e.TargetID] = e.Time
			}
			if m := downtimeMSRE.FindStringSubmatch(e.Detail); m != nil {
				if v, err := strconv.ParseFloat(m[1], 64); err == nil {
					d.downtimeMS = append(d.downtimeMS, v)
				}
			}
		case backend.ActionLoginFailure:
			d.failedLogins++
		case backend.ActionAccountLock:
			d.locks++
		}
	}
	for id, t := range down {
		u, ok := up[id]
		if !ok {
			d.missing++
			continue
		}
		d.downtimes = append(d.downtimes, u.Sub(t).Seconds())
	}
	slices.Sort(d.downtimes)
	return d, nil
}
