// Command terraform-provider-apphost is the Terraform provider for apphost
// and, with a subcommand, the admin tool of an apphost backend.
//
// Started with no arguments (as Terraform does) or with -debug, it serves the
// provider over the plugin protocol. With a subcommand (serve, audit,
// accounts, login, recover-admin, version, help) it runs that command; see
// internal/cli.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/apphost/terraform-provider-apphost/internal/cli"
	"github.com/apphost/terraform-provider-apphost/internal/provider"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

// providerAddress is the provider's source address in the registry.
const providerAddress = "registry.terraform.io/apphost/apphost"

func main() {
	if isCommand(os.Args[1:]) {
		cli.Version = version
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}

	var debug bool
	flag.BoolVar(&debug, "debug", false, "start the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: providerAddress,
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// isCommand reports whether args ask for the admin tool rather than the
// provider server: a subcommand, or a request for help or the version.
func isCommand(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch strings.TrimLeft(args[0], "-") {
	case "debug", "debug=true", "debug=false":
		return false
	case "h", "help", "version":
		return true
	}
	return !strings.HasPrefix(args[0], "-")
}
