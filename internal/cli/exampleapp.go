package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/apphost/terraform-provider-apphost/internal/exampleapp"
)

// runExampleApp is the example app an App Host runs; see internal/exampleapp.
// It takes no flags: an App Host gives it everything in its environment and
// its directory.
func runExampleApp(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("example-app", "(no flags: run by an App Host, which sets APPHOST_APP_DIR and APPHOST_ENDPOINT)", stderr)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)
	return exampleapp.Run(ctx, os.Getenv, reload, stdout, stderr)
}
