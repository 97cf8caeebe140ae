package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"text/tabwriter"
)

// Goals of the real App Host row (issue 19).
const (
	goalRatio = 1.5    // median downtime / median cold start
	goalMaxMS = 1000.0 // max downtime
	// Overlap without reload_signal (issue 20): median downtime of an app's
	// own restart.
	goalOverlapRestartMS = 50.0
)

func (r *runState) report(w io.Writer) {
	o := r.b.o
	fmt.Fprintln(w)
	fmt.Fprintf(w, "== real App Host: %d example apps (exec driver) on one App Host, each bound to its own key, "+
		"all rotated in one terraform apply -parallelism=%d; %d rounds ==\n", o.n, o.parallelism, o.runs)
	exec := r.set(setExec)
	fmt.Fprintf(w, "cold start, %d apps started at once (their deploy's transaction to their first proven login, server clock): %s\n",
		o.wave, dist(r.coldMS))
	if exec != nil {
		fmt.Fprintf(w, "downtime per app (rotation steps: stop to first login with the new secret_version): %s\n", dist(exec.downtimeMS))
		fmt.Fprintf(w, "  of which stop to start (the stop, its confirmation, the regeneration): %s\n", dist(exec.stopStart))
		fmt.Fprintf(w, "  and start to first login with the new secret: %s\n", dist(exec.startRun))
		if len(exec.downtimeMS) > 0 && len(r.coldMS) > 0 {
			ratio := median(exec.downtimeMS) / median(r.coldMS)
			maxDown := slices.Max(exec.downtimeMS)
			fmt.Fprintf(w, "  median downtime / median cold start = %.2fx (goal <= %.1fx: %s); max downtime %.0f ms (goal <= %.0f ms: %s)\n",
				ratio, goalRatio, met(ratio <= goalRatio), maxDown, goalMaxMS, met(maxDown <= goalMaxMS))
		}
	}
	if exec != nil && len(exec.downRounds) == len(r.coldRounds) && len(r.coldRounds) > 1 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  round\tcold start med ms\tmax ms\tdowntime med ms\tmax ms\tmedian ratio\t")
		for i, cold := range r.coldRounds {
			down := exec.downRounds[i]
			if len(cold) == 0 || len(down) == 0 {
				continue
			}
			fmt.Fprintf(tw, "  %d\t%.0f\t%.0f\t%.0f\t%.0f\t%.2fx\t\n", i+1, median(cold), slices.Max(cold),
				median(down), slices.Max(down), median(down)/median(cold))
		}
		_ = tw.Flush()
	}
	r.reportOverlap(w)
	fmt.Fprintf(w, "failed logins %d, locks %d (the whole run, every set; goal 0: %s)\n",
		r.failedLogins, r.locks, met(r.failedLogins == 0 && r.locks == 0))
	for _, mem := range []memory{r.memDeployed, r.memAfter} {
		if mem.when == "" {
			continue
		}
		fmt.Fprintf(w, "memory %s: exec App Host RSS %s with %d apps (%s before any app ran): %s per app, %s per app over its own start;\n",
			mem.when, kb(mem.hostKB), o.n, kb(r.hostBaseKB), kb(mem.hostKB/int64(o.n)), kb((mem.hostKB-r.hostBaseKB)/int64(o.n)))
		perApp := func(x int64) string {
			if mem.apps == 0 {
				return "-"
			}
			return kb(x / int64(mem.apps))
		}
		fmt.Fprintf(w, "  its %d app processes: RSS %s (%s per app), PSS %s (%s per app; shared pages counted once); "+
			"virtual App Host RSS %s with %d apps (%s per app)\n",
			mem.apps, kb(mem.appsRSS), perApp(mem.appsRSS), kb(mem.appsPSS), perApp(mem.appsPSS),
			kb(mem.virtKB), o.n, kb(mem.virtKB/int64(o.n)))
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "== rotation time by App Host: %d apps per set (one per key; %d per key in the overlap sets), one apply per set and round ==\n",
		o.n, o.overlapPerKey)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "set\tApp Host\tapply s\trotation med ms\tmax ms\tprovider rotation_ms med\tmax\tdowntime med ms\tmax ms\trounds\t")
	for _, s := range r.sets {
		smed, smax := medMax(s.serverMS)
		pmed, pmax := medMax(s.rotationMS)
		dmed, dmax := medMax(s.downtimeMS)
		rounds := fmt.Sprint(len(s.applyS))
		if len(s.errors) > 0 {
			rounds += " (!)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.kind, s.appHost, secs(median(s.applyS)),
			smed, smax, pmed, pmax, dmed, dmax, rounds)
	}
	_ = tw.Flush()
	if v, b := r.set(setVirtual), r.set(setBuiltIn); v != nil && b != nil && len(v.serverMS) > 0 && len(b.serverMS) > 0 {
		fmt.Fprintf(w, "App Host round trips add (virtual minus built-in, medians): %.0f ms per rotation (the server's rotation, "+
			"created to ended), %.0f ms per key in the provider (rotation_ms: the call, with the client's polling), %.2f s per apply of %d keys\n",
			median(v.serverMS)-median(b.serverMS), median(v.rotationMS)-median(b.rotationMS), median(v.applyS)-median(b.applyS), o.n)
	}
	fmt.Fprintln(w, "rotation: one rotation object per key (GET /v1/rotations), created_at to ended_at by the server's clock;")
	fmt.Fprintln(w, "provider rotation_ms: the provider's RegenerateSecret call (TF_LOG_PROVIDER=INFO), which polls the rotation over HTTP;")
	fmt.Fprintln(w, "downtime: the rotation steps' downtime_ms (stop to first login with the new secret_version).")
	for _, s := range r.sets {
		fmt.Fprintf(w, "%s: rotation applies %s\n", s.kind, list(s.applyS))
		for _, e := range s.errors {
			fmt.Fprintf(w, "    ERROR: %s\n", e)
		}
	}
	for _, e := range r.errors {
		fmt.Fprintf(w, "ERROR: %s\n", e)
	}
}

func (r *runState) set(kind string) *set {
	for _, s := range r.sets {
		if s.kind == kind {
			return s
		}
	}
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// dist is the median, 90th percentile and maximum of xs, in ms.
func dist(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("median %.0f ms, p90 %.0f ms, max %.0f ms (%d)", median(xs), quantile(xs, 0.9), slices.Max(xs), len(xs))
}

func medMax(xs []float64) (string, string) {
	if len(xs) == 0 {
		return "-", "-"
	}
	return fmt.Sprintf("%.0f", median(xs)), fmt.Sprintf("%.0f", slices.Max(xs))
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

// quantile is the q-quantile of xs, interpolated between the nearest ranks.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func kb(x int64) string {
	switch {
	case x <= 0:
		return "-"
	case x >= 10*1024:
		return fmt.Sprintf("%.0f MB", float64(x)/1024)
	default:
		return fmt.Sprintf("%d kB", x)
	}
}

func secs(x float64) string {
	if x <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

func list(xs []float64) string {
	out := "["
	for i, x := range xs {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.2f", x)
	}
	return out + "]s"
}

func mkdirs(dir string) error { return os.MkdirAll(dir, 0o755) }

// reportOverlap prints the overlap sets' figures, if they ran.
func (r *runState) reportOverlap(w io.Writer) {
	o := r.b.o
	reload, restart := r.set(setOverlapReload), r.set(setOverlapRestart)
	if reload == nil || restart == nil {
		return
	}
	fmt.Fprintf(w, "overlap (rotation_strategy = \"overlap\"): %d example apps per set on App Host %s, %d per key (%d keys), "+
		"moved one at a time per key:\n", o.n, overlapHost, o.overlapPerKey, reload.keys(o.n))
	fmt.Fprintf(w, "  with reload_signal: %d of %d app moves kept their process and never stopped (downtime 0 ms; goal every one: %s)\n",
		reload.kept, reload.steps, met(reload.steps > 0 && reload.kept == reload.steps && len(reload.errors) == 0))
	fmt.Fprintf(w, "  without: downtime per app (its restart: the move to its first login with the pending secret): %s\n", dist(restart.downtimeMS))
	if len(restart.downtimeMS) > 0 {
		m := median(restart.downtimeMS)
		fmt.Fprintf(w, "    median %.0f ms (goal <= %.0f ms: %s); against the cold start of %d apps at once: %.2fx\n",
			m, goalOverlapRestartMS, met(m <= goalOverlapRestartMS), o.wave, m/median(r.coldMS))
	}
	fmt.Fprintf(w, "    two apps of one key down at once: %s\n", map[bool]string{true: "never (met)", false: "see the errors below (NOT met)"}[len(restart.errors) == 0])
}
