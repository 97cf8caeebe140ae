package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

// maxSecretInput bounds what login reads from stdin.
const maxSecretInput = 64 << 10

func runLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("login", "--store STORE [--key-file FILE] --key-id ID --secret-stdin", stderr)
	var sf storeFlags
	sf.register(fs)
	keyID := fs.String("key-id", "", "the API key account's `ID`")
	secretStdin := fs.Bool("secret-stdin", false, "read the secret from standard input (required)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if !sf.check(stderr, "login") {
		return exitUsage
	}
	if *keyID == "" || !*secretStdin {
		fmt.Fprintln(stderr, "login: --key-id and --secret-stdin are required (the secret is never taken as an argument)")
		fs.Usage()
		return exitUsage
	}

	secret, err := readSecret(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "%s login: reading the secret from stdin: %v\n", Program, err)
		return exitFail
	}
	if secret == "" {
		fmt.Fprintf(stderr, "%s login: no secret on stdin\n", Program)
		return exitFail
	}

	b, ok := sf.open(ctx, stderr, "login")
	if !ok {
		return exitFail
	}
	defer b.Close()

	err = b.Login(core.WithActor(ctx, actor), backend.LoginRequest{AccountID: *keyID, Secret: secret})
	if err != nil {
		fmt.Fprintf(stderr, "%s login: %s\n", Program, loginFailure(*keyID, err))
		return exitFail
	}
	fmt.Fprintf(stdout, "login succeeded for API key account %s\n", *keyID)
	return exitOK
}

// readSecret reads the first line of r, without its line ending.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxSecretInput)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// loginFailure says why a login failed, in words that never hold the secret.
func loginFailure(keyID string, err error) string {
	switch backend.CodeOf(err) {
	case backend.CodeLocked:
		return fmt.Sprintf("API key account %s is locked: too many failed logins. "+
			"Regenerate its secret to unlock it (change a rotation trigger and run terraform apply).", keyID)
	case backend.CodeLoginFailed, backend.CodeNotFound:
		return fmt.Sprintf("login failed for API key account %s: wrong key ID or secret "+
			"(each failure counts toward the account's lockout)", keyID)
	default:
		return fmt.Sprintf("login for API key account %s failed: %v", keyID, err)
	}
}
