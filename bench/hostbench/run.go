package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/bench/benchutil"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// waitLimit bounds every wait for a state of the server.
const waitLimit = 5 * time.Minute

// run sets everything up, runs the rounds, prints the report and tears
// everything down; it returns the exit status.
func (b *bench) run(ctx context.Context) int {
	m := benchutil.ReadMachine(ctx, b.o.terraform)
	m.Print(b.out)
	fmt.Fprintf(b.out, "settings:  N=%d apps per set, rounds=%d, parallelism=%d, cold start wave=%d, login_interval=%s\n",
		b.o.n, b.o.runs, b.o.parallelism, b.o.wave, b.o.loginInterval)
	fmt.Fprintf(b.out, "work dir:  %s\n\n", b.o.dir)

	r := &runState{b: b}
	defer r.teardown()
	err := r.setup(ctx)
	if err == nil {
		err = r.rounds(ctx)
	}
	if err != nil {
		b.logf("%v", err)
		r.errors = append(r.errors, err.Error())
	}
	if r.execHost != nil {
		r.memAfter = r.memory("after the rounds")
	}
	if r.api != nil {
		r.countFailures(ctx)
	}
	r.report(b.out)
	if len(r.errors) > 0 || r.failedLogins > 0 || r.locks > 0 {
		return 1
	}
	for _, s := range r.sets {
		if len(s.errors) > 0 {
			return 1
		}
	}
	return 0
}

// runState is everything one run set up and measured.
type runState struct {
	b        *bench
	srv      *benchutil.Server
	api      *client.Client
	execHost *benchutil.Host
	virtHost *benchutil.Host
	overHost *benchutil.Host // the overlap sets' (exec driver)
	sets     []*set          // exec, virtual, built-in, then the overlap sets
	cold     []coldApp

	coldMS       []float64   // the cold starts, ms
	coldRounds   [][]float64 // the same, by round
	hostBaseKB   int64       // the exec App Host's RSS before any app ran
	memDeployed  memory
	memAfter     memory
	failedLogins int
	locks        int
	errors       []string
}

// coldApp is one of the apps of the cold start waves.
type coldApp struct {
	app   backend.App
	keyID string
}

func (r *runState) teardown() {
	for _, h := range []*benchutil.Host{r.execHost, r.virtHost, r.overHost} {
		h.Stop()
	}
	r.srv.Stop()
	if n := benchutil.KillApps(r.b.o.dir); n > 0 {
		r.b.logf("killed %d app processes that their App Host left behind", n)
	}
}

func (r *runState) setup(ctx context.Context) error {
	o := r.b.o
	if err := mkdirs(filepath.Join(o.dir, "server")); err != nil {
		return err
	}
	srv, err := benchutil.StartServer(ctx, o.provider, "sqlite:"+filepath.Join(o.dir, "server", "apphost.db"), "",
		filepath.Join(o.dir, "server", "server.log"))
	if err != nil {
		return fmt.Errorf("starting serve: %w", err)
	}
	r.srv = srv
	if r.api, err = client.New(client.Config{Endpoint: srv.URL, APIKeyID: srv.AdminID, APIKeySecret: srv.AdminKey,
		UserAgent: "apphost-hostbench", Timeout: 5 * time.Minute}); err != nil {
		return err
	}
	if r.execHost, err = benchutil.StartHost(ctx, o.provider, r.api, srv.URL, "bench-exec", "exec", filepath.Join(o.dir, "exec")); err != nil {
		return err
	}
	r.hostBaseKB = benchutil.RSSKB(r.execHost.PID())
	if r.virtHost, err = benchutil.StartHost(ctx, o.provider, r.api, srv.URL, "bench-virtual", "virtual", filepath.Join(o.dir, "virtual")); err != nil {
		return err
	}

	// The sets' apps, not deployed until their secrets are in.
	r.sets = []*set{
		{kind: setExec, appHost: "bench-exec"},
		{kind: setVirtual, appHost: "bench-virtual"},
		{kind: setBuiltIn, appHost: "bench-builtin"}, // no App Host account claims it
	}
	if o.overlapPerKey > 0 {
		if r.overHost, err = benchutil.StartHost(ctx, o.provider, r.api, srv.URL, overlapHost, "exec", filepath.Join(o.dir, "overlap")); err != nil {
			return err
		}
		r.sets = append(r.sets,
			&set{kind: setOverlapReload, appHost: overlapHost, appsPerKey: o.overlapPerKey},
			&set{kind: setOverlapRestart, appHost: overlapHost, appsPerKey: o.overlapPerKey})
	}
	for _, s := range r.sets {
		s.dir = filepath.Join(o.dir, s.kind, "tf")
		if err := s.setup(o, srv); err != nil {
			return err
		}
		r.b.logf("%-8s create: %d apps and bound app secrets, %d keys ...", s.kind, o.n, s.keys(o.n))
		res, err := s.apply(ctx, o, "0", [3]int{2*o.n + s.keys(o.n), 0, 0})
		if err != nil {
			return fmt.Errorf("%s: create: %w", s.kind, err)
		}
		r.b.logf("%-8s create %.2fs", s.kind, res.seconds)
		apps, err := r.api.ListApps(ctx, backend.ListAppsRequest{AppHost: s.appHost})
		if err != nil {
			return err
		}
		for _, a := range apps {
			if strings.HasPrefix(a.Name, s.appPrefix()) {
				s.apps = append(s.apps, a)
			}
		}
		if len(s.apps) != o.n {
			return fmt.Errorf("%s: %d apps on %s after the create, want %d", s.kind, len(s.apps), s.appHost, o.n)
		}
		if _, err := r.waitRunning(ctx, s.appHost, appIDs(s.apps)); err != nil {
			return fmt.Errorf("%s: %w", s.kind, err)
		}
	}

	// The cold start apps: example apps on the exec App Host, each bound
	// (through the API) to its own key, not deployed.
	for i := range o.wave {
		key, err := r.api.CreateAccount(ctx, backend.CreateAccountRequest{Name: fmt.Sprintf("cold-key-%02d", i)})
		if err != nil {
			return err
		}
		a, err := r.api.CreateApp(ctx, backend.CreateAppRequest{Name: fmt.Sprintf("cold-app-%02d", i), AppHost: "bench-exec",
			Config:     map[string]string{"login_interval": o.loginInterval},
			AppRuntime: backend.AppRuntime{Command: []string{o.provider, "example-app"}}})
		if err != nil {
			return err
		}
		if _, err := r.api.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: a.ID, Name: "api", AccountID: key.ID}); err != nil {
			return err
		}
		r.cold = append(r.cold, coldApp{app: *a, keyID: key.ID})
	}
	r.memDeployed = r.memory("after the deploy")
	return nil
}

// waitRunning waits until every app of ids on appHost is running and
// returns them by ID.
func (r *runState) waitRunning(ctx context.Context, appHost string, ids []string) (map[string]backend.App, error) {
	return r.waitApps(ctx, appHost, ids, "running", func(a backend.App) bool {
		return a.Status == backend.StatusRunning && (a.Process == nil || a.Process.PID != 0 || a.Process.Phase == "running")
	})
}

// waitApps polls the apps of appHost until every one of ids satisfies ok.
func (r *runState) waitApps(ctx context.Context, appHost string, ids []string, what string, ok func(backend.App) bool) (map[string]backend.App, error) {
	deadline := time.Now().Add(waitLimit)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		apps, err := r.api.ListApps(ctx, backend.ListAppsRequest{AppHost: appHost})
		if err != nil {
			return nil, err
		}
		byID := map[string]backend.App{}
		for _, a := range apps {
			byID[a.ID] = a
		}
		var notYet []string
		for _, id := range ids {
			if a, found := byID[id]; !found || !ok(a) {
				notYet = append(notYet, fmt.Sprintf("%s (%s: %s)", a.Name, a.Status, a.StatusDetail))
			}
		}
		if len(notYet) == 0 {
			return byID, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d apps on %s are not %s after %s, such as %s", len(notYet), appHost, what, waitLimit, notYet[0])
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait): // polling the server for a state, with a deadline
		}
	}
}

func (r *runState) rounds(ctx context.Context) error {
	o := r.b.o
	for round := 1; round <= o.runs; round++ {
		if err := r.coldWave(ctx, round); err != nil {
			return err
		}
		for i := range r.sets {
			s := r.sets[(i+round-1)%len(r.sets)]
			if err := r.rotate(ctx, s, round); err != nil {
				s.fail("round %d: %v", round, err)
				r.b.logf("%-8s round %d FAILED: %v", s.kind, round, err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// coldWave deploys the cold start apps at once and measures each one's
// time from its deploy (the transaction's time, on the server's clock) to
// its first successful login as itself with its key (the audit event's
// time); then it stops them again.
func (r *runState) coldWave(ctx context.Context, round int) error {
	mark, err := r.lastSeq(ctx)
	if err != nil {
		return err
	}
	start := make(chan struct{})
	deployed := make([]time.Time, len(r.cold))
	errs := make([]error, len(r.cold))
	var wg sync.WaitGroup
	for i, c := range r.cold {
		wg.Go(func() {
			<-start
			a, err := r.api.DeployApp(ctx, c.app.ID)
			if err != nil {
				errs[i] = err
				return
			}
			deployed[i] = a.UpdatedAt
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cold start wave %d: %w", round, err)
	}
	ids := make([]string, len(r.cold))
	for i, c := range r.cold {
		ids[i] = c.app.ID
	}
	if _, err := r.waitRunning(ctx, "bench-exec", ids); err != nil {
		return fmt.Errorf("cold start wave %d: %w", round, err)
	}
	events, err := r.api.ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: mark})
	if err != nil {
		return err
	}
	var got []float64
	for i, c := range r.cold {
		j := slices.IndexFunc(events, func(e backend.AuditEvent) bool {
			return e.Action == backend.ActionLoginSuccess && e.TargetID == c.keyID && e.Actor == c.app.Name && !e.Time.Before(deployed[i])
		})
		if j < 0 {
			return fmt.Errorf("cold start wave %d: app %s runs, yet the audit log has no login of it as itself after its deploy", round, c.app.Name)
		}
		got = append(got, ms(events[j].Time.Sub(deployed[i])))
	}
	r.coldMS = append(r.coldMS, got...)
	r.coldRounds = append(r.coldRounds, got)
	r.b.logf("cold     round %d: %d apps started at once, deploy to first proven login median %.0f ms, max %.0f ms",
		round, len(got), median(got), slices.Max(got))

	for _, c := range r.cold {
		if _, err := r.api.UndeployApp(ctx, c.app.ID); err != nil {
			return err
		}
	}
	_, err = r.waitApps(ctx, "bench-exec", ids, "stopped", func(a backend.App) bool {
		return a.Status == backend.StatusStopped && (a.Process == nil || a.Process.PID == 0)
	})
	return err
}

// rotate plans (it must be empty) and applies a rotation of every key of s,
// and takes the figures from the rotations' steps.
func (r *runState) rotate(ctx context.Context, s *set, round int) error {
	o := r.b.o
	if err := s.plan(ctx, o); err != nil {
		return err
	}
	before, err := r.waitRunning(ctx, s.appHost, appIDs(s.apps))
	if err != nil {
		return err
	}
	res, err := s.apply(ctx, o, strconv.Itoa(round), [3]int{0, s.keys(o.n), 0})
	if err != nil {
		return err
	}
	s.applyS = append(s.applyS, res.seconds)
	s.rotationMS = append(s.rotationMS, res.rotationMS...)

	rots, err := r.api.ListRotations(ctx, backend.ListRotationsRequest{})
	if err != nil {
		return err
	}
	n := 0
	var down []float64
	for _, rot := range rots {
		if !s.ours(rot) || s.seen[rot.ID] {
			continue
		}
		s.seen[rot.ID] = true
		n++
		if rot.Outcome != backend.RotationDone {
			s.fail("round %d: rotation of %s ended %q: %s", round, rot.AccountName, rot.Outcome, rot.Error)
			continue
		}
		if rot.EndedAt != nil {
			s.serverMS = append(s.serverMS, ms(rot.EndedAt.Sub(rot.CreatedAt)))
		}
		if s.overlap() {
			down = append(down, s.overlapSteps(round, rot)...)
			continue
		}
		for _, st := range rot.Steps {
			if st.DowntimeMS == nil {
				s.fail("round %d: rotation of %s: app %s has no downtime (phase %s)", round, rot.AccountName, st.AppName, st.Phase)
				continue
			}
			down = append(down, *st.DowntimeMS)
			if st.StoppedAt != nil && st.StartedAt != nil && st.RunningAt != nil {
				s.stopStart = append(s.stopStart, ms(st.StartedAt.Sub(*st.StoppedAt)))
				s.startRun = append(s.startRun, ms(st.RunningAt.Sub(*st.StartedAt)))
			}
		}
	}
	if n != s.keys(o.n) {
		s.fail("round %d: %d rotations of the set's keys, want %d", round, n, s.keys(o.n))
	}
	s.downtimeMS = append(s.downtimeMS, down...)
	s.downRounds = append(s.downRounds, down)

	after, err := r.waitRunning(ctx, s.appHost, appIDs(s.apps))
	if err != nil {
		return err
	}
	if s.kind == setExec || s.kind == setOverlapRestart || s.kind == setOverlapReload {
		// A restart gives every app a new process; a reload keeps each one's.
		wantSame := s.kind == setOverlapReload
		var wrong []string
		for _, id := range appIDs(s.apps) {
			a := after[id]
			if p := before[id].Process; p != nil && a.Process != nil && (p.PID == a.Process.PID) != wantSame {
				wrong = append(wrong, fmt.Sprintf("%s (PID %d -> %d)", a.Name, p.PID, a.Process.PID))
			}
		}
		if len(wrong) > 0 && wantSame {
			s.fail("round %d: %d apps were restarted by a reload rotation, such as %s", round, len(wrong), wrong[0])
		} else if len(wrong) > 0 {
			s.fail("round %d: %d apps run as the same process as before the rotation, such as %s", round, len(wrong), wrong[0])
		}
	}
	line := fmt.Sprintf("%-8s round %d: rotation apply %.2fs", s.kind, round, res.seconds)
	if len(down) > 0 {
		line += fmt.Sprintf(", downtime median %.0f ms, max %.0f ms", median(down), slices.Max(down))
	}
	r.b.logf("%s", line)
	return nil
}

// lastSeq is the audit log's last sequence number.
func (r *runState) lastSeq(ctx context.Context) (int64, error) {
	events, err := r.api.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil || len(events) == 0 {
		return 0, err
	}
	return events[len(events)-1].Seq, nil
}

// countFailures counts the failed logins and the locks of the whole run.
func (r *runState) countFailures(ctx context.Context) {
	events, err := r.api.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		r.errors = append(r.errors, "reading the audit log: "+err.Error())
		return
	}
	for _, e := range events {
		switch e.Action {
		case backend.ActionLoginFailure:
			r.failedLogins++
		case backend.ActionAccountLock:
			r.locks++
		}
	}
}

// memory is the exec App Host's and its apps' memory at one moment.
type memory struct {
	when             string
	apps             int   // live app processes
	hostKB, virtKB   int64 // RSS of the exec and the virtual App Host
	appsRSS, appsPSS int64 // sums over the app processes
}

func (r *runState) memory(when string) memory {
	m := memory{when: when, hostKB: benchutil.RSSKB(r.execHost.PID())}
	if r.virtHost != nil {
		m.virtKB = benchutil.RSSKB(r.virtHost.PID())
	}
	for _, pid := range benchutil.AppProcs(r.execHost.Dir) {
		m.apps++
		m.appsRSS += benchutil.RSSKB(pid)
		m.appsPSS += benchutil.PSSKB(pid)
	}
	return m
}

func appIDs(apps []backend.App) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.ID
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// overlapSteps checks the steps of an overlap rotation and returns the
// downtimes of its apps that restarted: with reload_signal no app may stop
// (no downtime, its process kept); without, each is down for its own
// restart only, never two apps of the key at once.
func (s *set) overlapSteps(round int, rot backend.Rotation) []float64 {
	var down []float64
	type span struct {
		app      string
		from, to time.Time
	}
	var spans []span
	for _, st := range rot.Steps {
		s.steps++
		if st.Phase != backend.StepMoved {
			s.fail("round %d: rotation of %s: app %s ended %s, not moved", round, rot.AccountName, st.AppName, st.Phase)
			continue
		}
		switch {
		case s.kind == setOverlapReload && st.StoppedAt == nil && st.DowntimeMS == nil:
			s.kept++
		case s.kind == setOverlapReload:
			s.fail("round %d: rotation of %s: app %s stopped (downtime %v) though it has a reload_signal", round, rot.AccountName, st.AppName, st.DowntimeMS)
		case st.DowntimeMS == nil || st.StoppedAt == nil || st.RunningAt == nil:
			s.fail("round %d: rotation of %s: app %s restarted with no downtime recorded", round, rot.AccountName, st.AppName)
		default:
			down = append(down, *st.DowntimeMS)
			spans = append(spans, span{st.AppName, *st.StoppedAt, *st.RunningAt})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	for i := 1; i < len(spans); i++ {
		if spans[i].from.Before(spans[i-1].to) {
			s.fail("round %d: rotation of %s: %s went down (%s) before %s was back (%s)", round, rot.AccountName,
				spans[i].app, spans[i].from.Format(time.StampMilli), spans[i-1].app, spans[i-1].to.Format(time.StampMilli))
		}
	}
	return down
}
