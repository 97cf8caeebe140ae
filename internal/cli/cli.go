// Package cli is the admin tool of an apphost backend: the subcommands of the
// terraform-provider-apphost binary (serve, audit, accounts, rotations,
// app-hosts, login, recover-admin, host, example-app, version, help).
// Terraform starts the binary with no arguments, and it is then the
// provider; main only hands over to Run when a subcommand is given.
//
// Exit codes: 0 on success, 1 when the command fails, 2 on a usage error.
// No output of any command except serve's one-time admin secret and
// recover-admin's new secret ever holds a secret.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
)

// Version is the program's version, printed by the version command. main sets
// it from its own build-time version.
var Version = "dev"

// Program is the binary's name, used in usage messages.
const Program = "terraform-provider-apphost"

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// actor is the audit actor of changes made by these commands.
const actor = "cli"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the admin backend over HTTP", runServe},
		{"audit", "print the audit log, oldest first", runAudit},
		{"accounts", "print the API key account inventory", runAccounts},
		{"rotations", "print the rotations, newest first, with their steps", runRotations},
		{"app-hosts", "print the App Hosts; app-hosts forget NAME declares one lost", runAppHosts},
		{"host", "run an App Host: the apps of one App Host name on this machine", runHost},
		{"login", "check an API key account's secret (read from stdin)", runLogin},
		{"recover-admin", "break-glass: new secret for a locked or lost admin account", runRecoverAdmin},
		{"example-app", "the sample app an App Host runs (reads APPHOST_APP_DIR)", runExampleApp},
		{"version", "print the version", runVersion},
		{"help", "show this help", nil},
	}
}

// Run runs the subcommand named by args[0] with the rest of args, and returns
// the process exit code. args excludes the program name (os.Args[1:]).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			// "help CMD" is "CMD -h".
			return Run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", Program, name)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `%[1]s is the Terraform provider for apphost.

Terraform starts it with no arguments. With a command, it is the admin tool
of an apphost backend:

  %[1]s serve    --listen ADDR --store STORE [--tls-cert F --tls-key F]
  %[1]s audit    --store STORE [--json] [--after SEQ]
  %[1]s accounts --store STORE [--json | --import-blocks]
  %[1]s login    --store STORE --key-id ID --secret-stdin
  %[1]s rotations --store STORE [--json] [--active]
  %[1]s app-hosts --store STORE [--json]  |  app-hosts forget NAME
  %[1]s host     --name NAME --endpoint URL[,URL] --secret-file F [--dir DIR] [--driver exec|virtual]
                 [--ca-file F] [--key-id ID]   # opens no store
  %[1]s recover-admin --store STORE [--key-id ID] [--json] [--unlock-only]
  %[1]s example-app   # run by an App Host: reads APPHOST_APP_DIR, opens no store
  %[1]s version

Commands:
`, Program)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
STORE is sqlite:PATH or postgres://...; it defaults to sqlite: + $APPHOST_STORE_PATH,
else sqlite:.apphost/apphost.db. A missing store is created empty.
Run "%s help COMMAND" for a command's flags.
`, Program)
}

// flagSet makes a FlagSet for a command that reports errors to stderr.
func flagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(Program+" "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s %s\n\nFlags:\n", Program, name, synopsis)
		printFlags(fs)
	}
	return fs
}

// printFlags prints fs's flags GNU style (--name), as the usage lines spell them.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + strings.ToUpper(arg)
		}
		fmt.Fprintf(fs.Output(), "  --%s%s\n    \t%s", f.Name, arg, help)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(fs.Output(), " (default %q)", f.DefValue)
		}
		fmt.Fprintln(fs.Output())
	})
}

// parse parses args and returns -1 when the command should go on, else the
// exit code: 0 for -h, 2 for a usage error.
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	return -1
}

// storeFlags are the flags every store command takes.
type storeFlags struct {
	store   string
	keyFile string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	s.storeFlag(fs)
	fs.StringVar(&s.keyFile, "key-file", "",
		"the `FILE` of the key that seals app secret values (default: PATH.key beside a SQLite store; for PostgreSQL $APPHOST_KEY_FILE, else "+embedded.DefaultPostgresKeyFile+")")
}

// registerStore registers --store only: for the commands that need no key
// file (audit, accounts).
func (s *storeFlags) registerStore(fs *flag.FlagSet) {
	s.storeFlag(fs)
	// Accepted, so that scripts written for the store commands keep working.
	fs.StringVar(&s.keyFile, "key-file", "", "ignored: this command reads no secret and needs no key `FILE`")
}

func (s *storeFlags) storeFlag(fs *flag.FlagSet) {
	fs.StringVar(&s.store, "store", embedded.DefaultStore(),
		"the backend's `STORE`: sqlite:PATH or postgres://...")
}

// check refuses an empty --store (a typo such as --store "$UNSET" must not
// fall back to the default store).
func (s *storeFlags) check(stderr io.Writer, cmd string) bool {
	if strings.TrimSpace(s.store) == "" {
		fmt.Fprintf(stderr, "%s %s: --store is empty: give sqlite:PATH or a postgres:// URL, or leave the flag out for the default (%s)\n",
			Program, cmd, embedded.DefaultStore())
		return false
	}
	return true
}

// open opens (creating if missing) the store the flags name.
func (s *storeFlags) open(ctx context.Context, stderr io.Writer, cmd string) (*core.Service, bool) {
	return s.openWith(ctx, stderr, cmd, embedded.Config{Store: s.store, KeyFile: s.keyFile})
}

// openNoKey opens the store without its key file, for commands that read no
// secret (audit, accounts).
func (s *storeFlags) openNoKey(ctx context.Context, stderr io.Writer, cmd string) (*core.Service, bool) {
	return s.openWith(ctx, stderr, cmd, embedded.Config{Store: s.store, NoKey: true})
}

func (s *storeFlags) openWith(ctx context.Context, stderr io.Writer, cmd string, cfg embedded.Config) (*core.Service, bool) {
	if !s.check(stderr, cmd) {
		return nil, false
	}
	svc, err := embedded.Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: opening store %s: %v\n", Program, cmd, redactStore(s.store), err)
		return nil, false
	}
	return svc, true
}

// redactStore hides a password in a postgres:// store URL (user:PASSWORD@
// and ?password=...).
func redactStore(store string) string { return embedded.RedactStore(store) }

func runVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("version", "", stderr)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	fmt.Fprintf(stdout, "%s %s\n", Program, Version)
	return exitOK
}
