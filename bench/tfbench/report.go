package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// cell is one backend at one N: the figures of every round.
type cell struct {
	N    int    `json:"n"`
	Kind string `json:"backend"`

	CreateS      float64   `json:"create_s"`
	PlanS        []float64 `json:"plan_s"`
	ApplyS       []float64 `json:"rotation_apply_s"`
	PeakKB       int64     `json:"provider_peak_rss_kb"`
	ServerPeakKB int64     `json:"server_peak_rss_kb,omitempty"`
	// Downtime holds every app's undeploy-to-deploy time, in seconds, over
	// all rotations (audit event times).
	Downtime []float64 `json:"downtime_s,omitempty"`
	// DowntimeMS holds the downtime_ms detail of every app.deploy of the rotations.
	DowntimeMS []float64 `json:"downtime_ms,omitempty"`
	// RotationMS holds the rotation_ms of every RegenerateSecret call of the
	// rotations, from the provider's log: the transaction and its wait for
	// the store's write lock.
	RotationMS []float64 `json:"rotation_ms,omitempty"`
	// RotationLogMissing counts the rotated keys with no rotation_ms line.
	RotationLogMissing int      `json:"rotation_log_missing,omitempty"`
	FailedLogins       int      `json:"failed_logins"`
	Locks              int      `json:"locks"`
	Errors             []string `json:"errors,omitempty"`

	ws *workspace
}

func (c *cell) fail(format string, args ...any) {
	c.Errors = append(c.Errors, fmt.Sprintf(format, args...))
}

func (c *cell) notePeak(kb int64) { c.PeakKB = max(c.PeakKB, kb) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mb(kb int64) string {
	if kb <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MB", float64(kb)/1024)
}

func secs(x float64) string {
	if x <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

func ratio(x, floor float64) string {
	if x <= 0 || floor <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x/floor)
}

// printTable prints one row per cell, with ratios to the floors at the same N.
func printTable(w io.Writer, cells []*cell) {
	if len(cells) == 0 {
		return
	}
	floor := func(n int, kind string) *cell {
		for _, c := range cells {
			if c.N == n && c.Kind == kind {
				return c
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tbackend\tplan s\tvs tf_data\tvs no-io\trotation s\tvs tf_data\tvs no-io\tprovider RSS\tdowntime med ms\tmax ms\trotation tx med ms\tmax ms\truns\t")
	for _, c := range cells {
		p, a := median(c.PlanS), median(c.ApplyS)
		var tp, ta, np, na float64
		if f := floor(c.N, kindTFData); f != nil {
			tp, ta = median(f.PlanS), median(f.ApplyS)
		}
		if f := floor(c.N, kindNoIO); f != nil {
			np, na = median(f.PlanS), median(f.ApplyS)
		}
		dmed, dmax := medMax(c.Downtime, 1000)
		rmed, rmax := medMax(c.RotationMS, 1)
		runs := fmt.Sprintf("%d", len(c.ApplyS))
		if len(c.Errors) > 0 {
			runs += " (!)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			c.N, c.Kind, secs(p), ratio(p, tp), ratio(p, np), secs(a), ratio(a, ta), ratio(a, na),
			mb(c.PeakKB), dmed, dmax, rmed, rmax, runs)
	}
	_ = tw.Flush()
}

// medMax formats the median and the maximum of xs, scaled, in milliseconds.
func medMax(xs []float64, scale float64) (string, string) {
	if len(xs) == 0 {
		return "-", "-"
	}
	return fmt.Sprintf("%.1f", median(xs)*scale), fmt.Sprintf("%.1f", slices.Max(xs)*scale)
}

// printNotes prints what the table has no room for: creates, server memory,
// failed logins, the backend's own downtime figures and errors.
func printNotes(w io.Writer, cells []*cell) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "plan: refreshing terraform plan (must be empty); rotation: apply of a new rotation trigger (N keys")
	fmt.Fprintln(w, "regenerated in place, one RegenerateSecret each; the bound app secrets are not in the plan);")
	fmt.Fprintln(w, "provider RSS: peak over every provider process of the runs; downtime: per app, audit")
	fmt.Fprintln(w, "app.undeploy to app.deploy, over all rotations (no-io: from its in-memory store's snapshot);")
	fmt.Fprintln(w, "rotation tx: per key, the rotation_ms field of the provider's log")
	fmt.Fprintln(w, "(TF_LOG_PROVIDER=INFO): the RegenerateSecret call, its wait for the store's write lock included.")
	for _, c := range cells {
		var parts []string
		if c.CreateS > 0 {
			parts = append(parts, fmt.Sprintf("create %.2fs", c.CreateS))
		}
		if len(c.PlanS) > 0 {
			parts = append(parts, "plans "+list(c.PlanS), "rotations "+list(c.ApplyS))
		}
		if c.ServerPeakKB > 0 {
			parts = append(parts, "server peak RSS "+mb(c.ServerPeakKB))
		}
		if c.Kind != kindTFData && len(c.ApplyS) > 0 {
			parts = append(parts, fmt.Sprintf("failed logins %d, locks %d", c.FailedLogins, c.Locks))
		}
		if len(c.DowntimeMS) > 0 {
			dmed, dmax := medMax(c.DowntimeMS, 1)
			parts = append(parts, fmt.Sprintf("downtime_ms of %d app.deploy events: median %s, max %s", len(c.DowntimeMS), dmed, dmax))
		}
		if len(c.RotationMS) > 0 {
			var sum float64
			for _, x := range c.RotationMS {
				sum += x
			}
			parts = append(parts, fmt.Sprintf("rotation_ms of %d calls: sum %.0f", len(c.RotationMS), sum))
		}
		if c.RotationLogMissing > 0 {
			parts = append(parts, fmt.Sprintf("no rotation_ms in the provider log for %d rotated keys "+
				"(a provider that does not log it, or TF_LOG_PROVIDER lines missing)", c.RotationLogMissing))
		}
		fmt.Fprintf(w, "N=%d %s: %s\n", c.N, c.Kind, strings.Join(parts, "; "))
		for _, e := range c.Errors {
			fmt.Fprintf(w, "    ERROR: %s\n", e)
		}
	}
}

func list(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return "[" + strings.Join(s, " ") + "]s"
}
