package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

// runAppHosts prints the App Hosts, real and built-in: a table, or with
// --json one backend.AppHost per line. "app-hosts forget NAME" declares a
// real one lost.
func runAppHosts(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "forget" {
		return runForgetAppHost(ctx, args[1:], stdin, stdout, stderr)
	}
	fs := flagSet("app-hosts", "[--store STORE] [--json]  |  app-hosts forget NAME [--store STORE]", stderr)
	var sf storeFlags
	sf.registerStore(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if !sf.check(stderr, "app-hosts") {
		return exitUsage
	}
	b, ok := sf.openNoKey(ctx, stderr, "app-hosts")
	if !ok {
		return exitFail
	}
	defer b.Close()
	list, err := b.ListAppHosts(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s app-hosts: listing App Hosts: %v\n", Program, err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, h := range list {
			if err := enc.Encode(h); err != nil {
				fmt.Fprintf(stderr, "%s app-hosts: %v\n", Program, err)
				return exitFail
			}
		}
		return exitOK
	}
	if err := writeAppHostsTable(stdout, list); err != nil {
		fmt.Fprintf(stderr, "%s app-hosts: %v\n", Program, err)
		return exitFail
	}
	return exitOK
}

// writeAppHostsTable prints one line per App Host.
func writeAppHostsTable(w io.Writer, list []backend.AppHost) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tBUILT-IN\tADDRESS\tINSTANCE\tLAST REPORT\tAPPS")
	for _, h := range list {
		builtIn := "no"
		if h.BuiltIn {
			builtIn = "yes"
		}
		state := h.State
		if h.Forgotten {
			state += " (forgotten)"
		}
		last := "-"
		if h.LastReport != nil {
			last = formatTime(*h.LastReport)
		}
		apps := "-"
		if len(h.Apps) > 0 {
			apps = strings.Join(h.Apps, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, state, builtIn, dash(h.Address), dash(h.InstanceID), last, apps)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runForgetAppHost declares a real App Host lost (audited): its session is
// fenced, its apps count as stopped (a rotation no longer waits for it),
// and when it comes back it stops its apps before it starts any.
func runForgetAppHost(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("app-hosts forget", "NAME [--store STORE]", stderr)
	var sf storeFlags
	sf.registerStore(fs)
	// NAME may come before the flags or after them.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := fs.Args()
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	switch {
	case name == "":
		fmt.Fprintf(stderr, "%s app-hosts forget: give the NAME of the App Host to declare lost\n", Program)
		fs.Usage()
		return exitUsage
	case len(rest) > 0:
		fmt.Fprintf(stderr, "%s app-hosts forget: unexpected argument %q\n", Program, rest[0])
		fs.Usage()
		return exitUsage
	}
	if !sf.check(stderr, "app-hosts forget") {
		return exitUsage
	}
	b, ok := sf.openNoKey(ctx, stderr, "app-hosts forget")
	if !ok {
		return exitFail
	}
	defer b.Close()
	if err := b.ForgetAppHost(core.WithActor(ctx, actor), name); err != nil {
		fmt.Fprintf(stderr, "%s app-hosts forget: %v\n", Program, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "App Host %q is declared lost: its session is fenced, a rotation no longer waits for it, and when it "+
		"connects again it stops its apps before it starts any.\n", name)
	return exitOK
}
