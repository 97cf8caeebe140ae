package apphost

import (
	"context"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// kickReport asks the reporter for a report soon.
func (h *Host) kickReport() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// reporter reports on driver events (a few in a row are one report) and
// every report interval, until ctx ends; a report that says the session is
// over ends the session (stop).
func (h *Host) reporter(ctx context.Context, stop context.CancelCauseFunc) {
	h.mu.Lock()
	interval := h.interval
	h.mu.Unlock()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
			if sleep(ctx, coalesce) != nil {
				return
			}
		case <-t.C:
		}
		err := h.sendReport(ctx)
		if codeOf(err) == hostapi.CodeFenced {
			stop(err)
			return
		}
		if fatal(err) {
			stop(refused(err))
			return
		}
		if err != nil && ctx.Err() == nil {
			h.log.Warn("cannot report", "error", err.Error())
		}
		t.Reset(interval)
	}
}

// sendReport reports what runs now. Reports go one at a time, each built
// when its turn comes, so the server never gets an older one after a newer.
func (h *Host) sendReport(ctx context.Context) error {
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	rep, ok := h.buildReport()
	if !ok {
		return nil
	}
	h.mu.Lock()
	timeout := min(max(h.interval, time.Second), requestTimeout)
	h.mu.Unlock()
	a, err := h.c.report(ctx, rep, timeout)
	if err != nil {
		return err
	}
	h.mu.Lock()
	newer := a.Revision > h.fetched
	h.mu.Unlock()
	if newer {
		select {
		case <-h.nudge: // replaced by this one
		default:
		}
		select {
		case h.nudge <- a.Revision:
		default:
		}
	}
	return nil
}

// buildReport is the report of every app the desired state lists; false
// before the first desired state of this process: a report without the
// apps would tell the server that they stopped.
func (h *Host) buildReport() (hostapi.Report, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.target == nil || h.session == "" {
		return hostapi.Report{}, false
	}
	rep := hostapi.Report{SessionID: h.session, Revision: h.applied, Apps: make([]hostapi.AppReport, 0, len(h.target.Apps))}
	for _, a := range h.target.Apps {
		if driver.ValidateName(a.Name) != nil {
			continue
		}
		if r, ok := h.appReport(a); ok {
			rep.Apps = append(rep.Apps, r)
		}
	}
	return rep, true
}

// appReport is what the host knows of app a (h.mu held).
func (h *Host) appReport(a hostapi.DesiredApp) (hostapi.AppReport, bool) {
	out := hostapi.AppReport{ID: a.ID, Name: a.Name}
	if s, ok := h.starting[a.Name]; ok {
		out.Phase, out.Generation, out.TokenHash = hostapi.PhaseStarting, s.gen, s.hash
		return out, true
	}
	st, known := h.drv.State(a.Name)
	if f, ok := h.startErr[a.Name]; ok && (!known || st.Generation != f.gen) {
		out.Phase, out.Generation, out.Detail = hostapi.PhaseFailed, f.gen, f.detail
		return out, true
	}
	if !known {
		gen, ok := h.appliedGen[a.Name]
		out.Phase, out.Generation = hostapi.PhaseStopped, gen
		return out, ok
	}
	out.Phase, out.Generation = phaseOf(st.Phase), st.Generation
	if !st.Up() && st.Phase != driver.PhaseExited {
		// Stopped (or failed) for the generation applied last.
		out.Generation = max(st.Generation, h.appliedGen[a.Name])
	}
	out.PID, out.StartedAt, out.ExitCode, out.Restarts = st.PID, st.StartedAt, st.ExitCode, st.Restarts
	out.Detail, out.StderrTail = st.Detail, st.LogTail
	if st.Up() || st.Phase == driver.PhaseExited {
		out.TokenHash = h.tok.hash(st)
	}
	if m, ok := h.reloaded[a.Name]; ok && st.Up() && m.pid == st.PID && m.startedAt.Equal(st.StartedAt) {
		out.ReloadedAt = m.at
	}
	return out, true
}

// phaseOf maps a driver's phase to the protocol's.
func phaseOf(p driver.Phase) string {
	switch p {
	case driver.PhaseStarting:
		return hostapi.PhaseStarting
	case driver.PhaseRunning:
		return hostapi.PhaseRunning
	case driver.PhaseExited:
		return hostapi.PhaseExited
	case driver.PhaseFailed:
		return hostapi.PhaseFailed
	}
	return hostapi.PhaseStopped
}
