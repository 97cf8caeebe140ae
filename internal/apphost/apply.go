package apphost

import (
	"context"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// apply makes the apps as d says: it stops the apps not meant to run (and
// those d no longer lists), then starts the apps meant to run that the
// driver does not run with their generation; then it reports. It returns
// an error only when the report says that the session is over.
func (h *Host) apply(ctx context.Context, d *hostapi.Desired) error {
	h.mu.Lock()
	h.target, h.fetched = d, d.Revision
	h.mu.Unlock()

	desired := map[string]hostapi.DesiredApp{}
	var stops []string
	var starts, reloads []hostapi.DesiredApp
	for _, a := range d.Apps {
		if err := driver.ValidateName(a.Name); err != nil {
			h.log.Error("ignoring an app whose name cannot name its directory", "app_id", a.ID, "error", err.Error())
			continue
		}
		desired[a.Name] = a
		st, known := h.drv.State(a.Name)
		switch {
		case a.Run && h.needStart(a, st, known):
			if reloadable(a, st, known) {
				reloads = append(reloads, a)
			} else {
				starts = append(starts, a)
			}
		case a.Run:
		case known && st.Phase != driver.PhaseStopped:
			stops = append(stops, a.Name)
		default:
			h.setApplied(a.Name, a.Generation)
		}
	}
	for _, st := range h.drv.List() {
		if _, ok := desired[st.Name]; !ok && st.Phase != driver.PhaseStopped {
			stops = append(stops, st.Name) // no longer on this host (deleted, renamed, moved)
		}
	}
	h.stopAll(stops, desired)
	h.reloadAll(ctx, reloads)
	h.startAll(ctx, starts)
	h.forgetGone(desired)

	h.mu.Lock()
	h.applied = d.Revision
	h.mu.Unlock()
	err := h.sendReport(ctx)
	if codeOf(err) == hostapi.CodeFenced || fatal(err) {
		return err
	}
	return nil
}

// needStart: a is meant to run, and the driver does not run it with its
// generation (or does, but was not given its spec by this host process:
// an adopted app). A start that failed is not tried again until the
// generation changes (the server plans a redeploy of a failed app).
func (h *Host) needStart(a hostapi.DesiredApp, st driver.State, known bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.startErr[a.Name]; ok && f.gen == a.Generation {
		return false
	}
	if !known || st.Phase == driver.PhaseStopped {
		return true
	}
	return h.given[a.Name] != a.Generation
}

func (h *Host) setApplied(name string, gen int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.appliedGen[name] = gen
}

// stopAll stops the apps named, at once, and waits. An app in desired has
// its generation applied when it stopped.
func (h *Host) stopAll(names []string, desired map[string]hostapi.DesiredApp) {
	parallel(names, func(name string) {
		// Never cut short: the driver bounds a stop by the app's
		// stop_timeout and SIGKILL.
		if err := h.drv.Stop(context.Background(), name); err != nil {
			h.log.Error("stopping app", "app", name, "error", err.Error())
			return
		}
		h.log.Info("stopped app", "app", name)
		if a, ok := desired[name]; ok {
			h.setApplied(name, a.Generation)
		}
	})
}

// startAll starts apps at once and waits until the driver started each.
// Each app that gets a new process gets a new token, reported (with the
// app as starting) before any of them starts.
func (h *Host) startAll(ctx context.Context, apps []hostapi.DesiredApp) {
	type job struct {
		app  hostapi.DesiredApp
		spec driver.Spec
	}
	var jobs []job
	announce := false
	for _, a := range apps {
		st, known := h.drv.State(a.Name)
		st.Name = a.Name
		// The driver keeps a process that runs (or is about to be
		// restarted with) the spec's generation.
		keep := known && st.Generation == a.Generation && (st.Up() || st.Phase == driver.PhaseExited)
		tok, _, err := h.tok.token(st, known, keep)
		if err != nil {
			h.failStart(a, err)
			continue
		}
		jobs = append(jobs, job{a, specOf(a, tok)})
		if !keep {
			h.mu.Lock()
			h.starting[a.Name] = announced{gen: a.Generation, hash: hostapi.TokenHash(tok)}
			h.mu.Unlock()
			announce = true
		}
	}
	if announce {
		// So that the server knows each new token before its app logs in
		// with it. Not reported: the start goes on, and the app's first
		// logins are the app's, proven or not.
		if err := h.sendReport(ctx); err != nil {
			h.log.Warn("announcing the apps that start", "error", err.Error())
		}
	}
	parallel(jobs, func(j job) {
		err := h.drv.Start(context.WithoutCancel(ctx), j.spec)
		h.mu.Lock()
		delete(h.starting, j.app.Name)
		if err == nil {
			delete(h.startErr, j.app.Name)
			h.given[j.app.Name], h.appliedGen[j.app.Name] = j.app.Generation, j.app.Generation
		}
		h.mu.Unlock()
		if err != nil {
			h.failStart(j.app, err)
			return
		}
		h.log.Info("started app", "app", j.app.Name, "generation", j.app.Generation)
		h.kickReport()
	})
}

// reloadable: a's change is a reload (an overlap rotation gives it another
// secret), it has a reload_signal, and its process runs: it keeps running,
// with new files and the signal. Any other change is a start (a restart).
func reloadable(a hostapi.DesiredApp, st driver.State, known bool) bool {
	return a.Reload && a.ReloadSignal != "" && known && st.Phase == driver.PhaseRunning
}

// reloadAll has the driver give running apps their new files and their
// reload_signal, at once, and waits. Each keeps its process and its token;
// the time of the signal is reported (AppReport.ReloadedAt): the server
// counts the app's logins after it.
func (h *Host) reloadAll(ctx context.Context, apps []hostapi.DesiredApp) {
	parallel(apps, func(a hostapi.DesiredApp) {
		st, known := h.drv.State(a.Name)
		st.Name = a.Name
		tok, _, err := h.tok.token(st, known, true)
		if err != nil {
			h.failStart(a, err)
			return
		}
		if err := h.drv.Reload(context.WithoutCancel(ctx), specOf(a, tok)); err != nil {
			h.failStart(a, err)
			return
		}
		after, _ := h.drv.State(a.Name)
		h.mu.Lock()
		delete(h.startErr, a.Name)
		h.given[a.Name], h.appliedGen[a.Name] = a.Generation, a.Generation
		h.reloaded[a.Name] = reloadMark{pid: after.PID, startedAt: after.StartedAt, at: time.Now()}
		h.mu.Unlock()
		h.log.Info("reloaded app", "app", a.Name, "generation", a.Generation, "signal", a.ReloadSignal)
		h.kickReport()
	})
}

// failStart records a start the driver refused, reported as failed.
func (h *Host) failStart(a hostapi.DesiredApp, err error) {
	h.log.Error("starting app", "app", a.Name, "generation", a.Generation, "error", err.Error())
	h.mu.Lock()
	h.startErr[a.Name] = startFailure{gen: a.Generation, detail: err.Error()}
	h.appliedGen[a.Name] = a.Generation
	h.mu.Unlock()
	h.kickReport()
}

// forgetGone drops what the host keeps of apps that are neither desired
// nor running; and the token record of every app with no process.
func (h *Host) forgetGone(desired map[string]hostapi.DesiredApp) {
	h.mu.Lock()
	for _, m := range []map[string]int64{h.given, h.appliedGen} {
		for name := range m {
			if _, ok := desired[name]; !ok {
				delete(m, name)
			}
		}
	}
	for name := range h.startErr {
		if _, ok := desired[name]; !ok {
			delete(h.startErr, name)
		}
	}
	for name := range h.reloaded {
		if _, ok := desired[name]; !ok {
			delete(h.reloaded, name)
		}
	}
	h.mu.Unlock()
	for _, name := range h.tok.names() {
		st, known := h.drv.State(name)
		if !known || st.Phase == driver.PhaseStopped || st.Phase == driver.PhaseFailed {
			h.tok.forget(name)
		}
	}
}

// specOf is what the driver runs for a.
func specOf(a hostapi.DesiredApp, token string) driver.Spec {
	s := driver.Spec{
		Name: a.Name, Command: a.Command, Config: a.Config, Generation: a.Generation, AppToken: token,
		StopTimeout:  time.Duration(a.StopTimeoutMS) * time.Millisecond,
		StartTimeout: time.Duration(a.StartTimeoutMS) * time.Millisecond,
		ReloadSignal: a.ReloadSignal,
	}
	for _, sec := range a.Secrets {
		s.Secrets = append(s.Secrets, driver.Secret{Name: sec.Name, Value: sec.Value, AccountID: sec.AccountID})
	}
	return s
}

// parallel runs fn for each item, at most maxParallel at once, and waits.
func parallel[T any](items []T, fn func(T)) {
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(it)
		})
	}
	wg.Wait()
}
