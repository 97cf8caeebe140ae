package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/apphost/terraform-provider-apphost/internal/apphost"
)

// EnvAPIKeyID is where host takes its App Host account's key ID from when
// --key-id is not given (the provider's variable of the same name).
const EnvAPIKeyID = "APPHOST_API_KEY_ID"

// maxSecretFile bounds a secret file: a secret is 43 characters.
const maxSecretFile = 4096

// runHost runs an App Host (package apphost) until SIGTERM or SIGINT, which
// stop its apps first. It opens no store. Logs are JSON lines on stderr.
func runHost(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) int {
	fs := flagSet("host", "--name NAME --endpoint URL[,URL...] --secret-file FILE [--dir DIR] [--driver exec|virtual] [--ca-file FILE] [--key-id ID]", stderr)
	var (
		name, endpoint, secretFile, dir, drv, caFile, keyID string
	)
	fs.StringVar(&name, "name", "", "the App Host's `NAME`: the app_host of its apps, and of its App Host account")
	fs.StringVar(&endpoint, "endpoint", "",
		"the server's `URL` (serve), or several, comma-separated, of replicas to fail over between: https://, or http:// to this machine only")
	fs.StringVar(&secretFile, "secret-file", "",
		"the `FILE` that holds the App Host account's secret; readable by its owner only (chmod 600)")
	fs.StringVar(&dir, "dir", "", "the App Host's `DIR`: its instance ID, and each app's directory, files and log (default .apphost/host-NAME; made 0700)")
	fs.StringVar(&drv, "driver", apphost.DriverExec, "how apps run: exec (a process per app) or virtual (each start is a login, no process)")
	fs.StringVar(&caFile, "ca-file", "", "a PEM `FILE` of CAs to trust for the server's certificate; the apps get it too (APPHOST_CA_FILE)")
	fs.StringVar(&keyID, "key-id", "", "the App Host account's API key `ID` (default $"+EnvAPIKeyID+")")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s host: %s\n", Program, fmt.Sprintf(format, a...))
		return exitUsage
	}
	switch {
	case name == "":
		return usageErr("--name is required: the name of this App Host, as the app_host of its App Host account and its apps")
	case strings.TrimSpace(endpoint) == "":
		return usageErr("--endpoint is required: the URL of the apphost server (serve), such as https://apphost.example:8443")
	case secretFile == "":
		return usageErr("--secret-file is required: a file (chmod 600) that holds the App Host account's secret; " +
			"the secret is taken from nowhere else")
	}
	if keyID == "" {
		keyID = os.Getenv(EnvAPIKeyID)
	}
	if keyID == "" {
		return usageErr("no API key ID: give the App Host account's ID with --key-id or %s", EnvAPIKeyID)
	}
	secret, err := readSecretFile(secretFile)
	if err != nil {
		return usageErr("%v", err)
	}
	var endpoints []string
	for e := range strings.SplitSeq(endpoint, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	h, err := apphost.New(apphost.Config{
		Name: name, Endpoints: endpoints, KeyID: keyID, Secret: secret, Dir: dir, Driver: drv, CAFile: caFile,
		Version: Version, Logger: slog.New(slog.NewJSONHandler(stderr, nil)),
	})
	if err != nil {
		return usageErr("%v", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := h.Run(sigCtx); err != nil {
		fmt.Fprintf(stderr, "%s host: %v\n", Program, err)
		return exitFail
	}
	return exitOK
}

// readSecretFile reads the one secret in path, a regular file that only
// its owner may read or write.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--secret-file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("--secret-file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("--secret-file %s may be read or written by others than its owner (mode %04o): "+
			"it holds the App Host account's secret; run chmod 600 %s", path, perm, path)
	}
	if fi.Size() > maxSecretFile {
		return "", fmt.Errorf("--secret-file %s is %d bytes: it should hold one secret, on one line", path, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--secret-file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	switch {
	case secret == "":
		return "", fmt.Errorf("--secret-file %s is empty: put the App Host account's secret in it", path)
	case strings.ContainsAny(secret, " \t\r\n"):
		return "", errors.New("--secret-file " + path + " holds more than one line or word: it should hold the secret only")
	}
	return secret, nil
}
