package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

func runAudit(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("audit", "--store STORE [--json] [--after SEQ]", stderr)
	var sf storeFlags
	sf.registerStore(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	after := fs.Int64("after", 0, "print only the events after sequence number `SEQ`")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if !sf.check(stderr, "audit") {
		return exitUsage
	}
	if *after < 0 {
		fmt.Fprintln(stderr, "audit: --after must not be negative")
		return exitUsage
	}

	b, ok := sf.openNoKey(ctx, stderr, "audit")
	if !ok {
		return exitFail
	}
	defer b.Close()

	events, err := b.ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: *after})
	if err != nil {
		fmt.Fprintf(stderr, "%s audit: reading the audit log: %v\n", Program, err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range events {
			// One line of audit --json is the event as the API returns it.
			if err := enc.Encode(e); err != nil {
				fmt.Fprintf(stderr, "%s audit: %v\n", Program, err)
				return exitFail
			}
		}
		return exitOK
	}
	if err := writeAuditTable(stdout, events); err != nil {
		fmt.Fprintf(stderr, "%s audit: %v\n", Program, err)
		return exitFail
	}
	return exitOK
}

// writeAuditTable prints events as an aligned table.
func writeAuditTable(w io.Writer, events []backend.AuditEvent) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tDETAIL")
	for _, e := range events {
		target := e.TargetName
		if target == "" {
			target = e.TargetID
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n",
			e.Seq, formatTime(e.Time), cell(e.Actor), e.Action, cell(target), e.Detail)
	}
	return tw.Flush()
}

// cell keeps an empty value visible in a table.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatTime is how the admin commands' tables show a time: UTC, to the
// millisecond.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }
