package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// accountRow is one line of `accounts --json`. It never holds a secret.
type accountRow struct {
	ID                  string    `json:"id"`
	Name                string    `json:"name"`
	Locked              bool      `json:"locked"`
	FailedLoginAttempts int64     `json:"failed_login_attempts"`
	SecretVersion       int64     `json:"secret_version"`
	SecretCreatedAt     time.Time `json:"secret_created_at"`
	Apps                []string  `json:"apps"`
}

func newAccountRow(a backend.Account) accountRow {
	apps := a.Apps
	if apps == nil {
		apps = []string{}
	}
	return accountRow{
		ID:                  a.ID,
		Name:                a.Name,
		Locked:              a.Locked,
		FailedLoginAttempts: a.FailedLoginAttempts,
		SecretVersion:       a.SecretVersion,
		SecretCreatedAt:     a.SecretCreatedAt.UTC(),
		Apps:                apps,
	}
}

func runAccounts(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flagSet("accounts", "--store STORE [--json | --import-blocks]", stderr)
	var sf storeFlags
	sf.registerStore(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	asImports := fs.Bool("import-blocks", false,
		"print Terraform import blocks for every key account, app and app secret (for terraform plan -generate-config-out)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if !sf.check(stderr, "accounts") {
		return exitUsage
	}
	if *asJSON && *asImports {
		fmt.Fprintf(stderr, "%s accounts: --json and --import-blocks cannot be used together\n", Program)
		fs.Usage()
		return exitUsage
	}

	b, ok := sf.openNoKey(ctx, stderr, "accounts")
	if !ok {
		return exitFail
	}
	defer b.Close()

	if *asImports {
		return printImportBlocks(ctx, b, sf.store, stdout, stderr)
	}
	accounts, err := b.ListAccounts(ctx, backend.ListAccountsRequest{})
	if err != nil {
		fmt.Fprintf(stderr, "%s accounts: listing API key accounts: %v\n", Program, err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, a := range accounts {
			if err := enc.Encode(newAccountRow(a)); err != nil {
				fmt.Fprintf(stderr, "%s accounts: %v\n", Program, err)
				return exitFail
			}
		}
		return exitOK
	}
	if err := writeAccountsTable(stdout, accounts, time.Now()); err != nil {
		fmt.Fprintf(stderr, "%s accounts: %v\n", Program, err)
		return exitFail
	}
	return exitOK
}

// writeAccountsTable prints accounts as an aligned table, secret ages as of now.
func writeAccountsTable(w io.Writer, accounts []backend.Account, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tLOCKED\tFAILED LOGINS\tSECRET VERSION\tSECRET AGE\tAPPS")
	for _, a := range accounts {
		locked := "no"
		if a.Locked {
			locked = "yes"
		}
		apps := "-"
		if len(a.Apps) > 0 {
			apps = strings.Join(a.Apps, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n",
			a.Name, a.ID, locked, a.FailedLoginAttempts, a.SecretVersion, age(now.Sub(a.SecretCreatedAt)), apps)
	}
	return tw.Flush()
}

// age formats a duration compactly, to its two largest units: "3d4h", "5h12m",
// "7m", "<1m".
func age(d time.Duration) string {
	if d < time.Minute {
		return "<1m"
	}
	days := int64(d / (24 * time.Hour))
	hours := int64(d % (24 * time.Hour) / time.Hour)
	minutes := int64(d % time.Hour / time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh%dm", hours, minutes)
	default:
		return fmt.Sprintf("%dm", minutes)
	}
}
