package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// runRotations prints the rotations, newest first: a table, or with --json
// one backend.Rotation per line (never a secret: rotations hold none).
func runRotations(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("rotations", "--store STORE [--json] [--active] [--account ID] [--limit N]", stderr)
	var sf storeFlags
	sf.registerStore(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	active := fs.Bool("active", false, "only the rotations that have not ended")
	account := fs.String("account", "", "only the rotations of this API key account `ID`")
	limit := fs.Int("limit", 0, "at most `N` rotations (0: all)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if !sf.check(stderr, "rotations") {
		return exitUsage
	}
	if *limit < 0 {
		fmt.Fprintf(stderr, "%s rotations: --limit must not be negative\n", Program)
		return exitUsage
	}
	b, ok := sf.openNoKey(ctx, stderr, "rotations")
	if !ok {
		return exitFail
	}
	defer b.Close()
	list, err := b.ListRotations(ctx, backend.ListRotationsRequest{AccountID: *account, ActiveOnly: *active, Limit: *limit})
	if err != nil {
		fmt.Fprintf(stderr, "%s rotations: listing rotations: %v\n", Program, err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range list {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(stderr, "%s rotations: %v\n", Program, err)
				return exitFail
			}
		}
		return exitOK
	}
	if err := writeRotationsTable(stdout, list); err != nil {
		fmt.Fprintf(stderr, "%s rotations: %v\n", Program, err)
		return exitFail
	}
	return exitOK
}

// writeRotationsTable prints one line per rotation and, under it, one per
// app it moved, with the app's downtime.
func writeRotationsTable(w io.Writer, list []backend.Rotation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tACCOUNT\tSTRATEGY\tSTATE\tVERSION\tID\tREASON")
	for _, r := range list {
		version := fmt.Sprint(r.FromVersion)
		switch {
		case r.ToVersion != 0:
			version += fmt.Sprintf(" -> %d", r.ToVersion)
		case r.OverlapUntil != nil && !r.Ended():
			// An overlap rotation under way: both secrets log in.
			version += fmt.Sprintf(" + %d pending until %s", r.FromVersion+1, formatTime(*r.OverlapUntil))
		}
		reason := r.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(r.CreatedAt), r.AccountName, r.Strategy, r.State, version, r.ID, reason)
		for _, st := range r.Steps {
			down := "-"
			switch {
			case st.DowntimeMS != nil:
				down = fmt.Sprintf("down %.3f ms", *st.DowntimeMS)
			case st.Phase == backend.StepMoved:
				down = "no downtime" // reloaded with its reload_signal
			}
			detail := strings.TrimSpace(st.Detail)
			if detail != "" {
				detail = " (" + detail + ")"
			}
			fmt.Fprintf(tw, "\t  app %s\t@%s\t%s\t%s%s\t\t\n", st.AppName, st.AppHost, st.Phase, down, detail)
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "\t  %s\t\t\t\t\t\n", r.Error)
		}
	}
	return tw.Flush()
}
