package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/apphost/terraform-provider-apphost/internal/embedded"
)

// runRecoverAdmin is the break-glass way back into a backend whose admin
// account is locked or lost, for whoever holds the store: a new secret for
// the admin account (unlocked), or a new admin account when none is left.
func runRecoverAdmin(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("recover-admin", "--store STORE [--key-id ID] [--json] [--unlock-only]", stderr)
	var sf storeFlags
	sf.registerStore(fs)
	keyID := fs.String("key-id", "", "the admin API key account's `ID` (default: the oldest admin account)")
	asJSON := fs.Bool("json", false, "print one JSON object with id and secret")
	unlockOnly := fs.Bool("unlock-only", false, "unlock the account and reset its failed logins without a new secret; prints no secret")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if !sf.check(stderr, "recover-admin") {
		return exitUsage
	}
	// A mistyped path or URL must not create a store.
	exists, err := embedded.Exists(ctx, sf.store)
	if err != nil {
		fmt.Fprintf(stderr, "%s recover-admin: %v\n", Program, err)
		return exitFail
	}
	if !exists {
		fmt.Fprintf(stderr, "%s recover-admin: store %s does not exist: check --store (or %s); recover-admin never creates a store\n",
			Program, redactStore(sf.store), embedded.EnvStorePath)
		return exitFail
	}
	// Admin secrets are never sealed: no key file is needed or created.
	svc, ok := sf.openNoKey(ctx, stderr, "recover-admin")
	if !ok {
		return exitFail
	}
	defer func() { _ = svc.Close() }()

	res, err := svc.RecoverAdmin(ctx, *keyID, *unlockOnly)
	if err != nil {
		fmt.Fprintf(stderr, "%s recover-admin: %v\n", Program, err)
		return exitFail
	}
	switch {
	case *asJSON && *unlockOnly:
		_ = json.NewEncoder(stdout).Encode(struct {
			ID string `json:"id"`
		}{res.Account.ID})
	case *asJSON:
		_ = json.NewEncoder(stdout).Encode(struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}{res.Account.ID, res.Secret})
	case *unlockOnly:
		fmt.Fprintf(stdout, "Unlocked the admin API key account %q (%s); its secret is unchanged.\n", res.Account.Name, res.Account.ID)
	default:
		what := "Regenerated and unlocked"
		if res.Created {
			what = "The store had no admin account: created"
		}
		fmt.Fprintf(stdout, "%s the admin API key account %q. Its secret is shown only this once: store it now.\n"+
			"  APPHOST_API_KEY_ID=%s\n  APPHOST_API_KEY_SECRET=%s\n", what, res.Account.Name, res.Account.ID, res.Secret)
	}
	return exitOK
}
