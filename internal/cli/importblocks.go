package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// Resource types the import blocks address.
const (
	tfAccount   = "apphost_api_key_account"
	tfApp       = "apphost_app"
	tfAppSecret = "apphost_app_secret"
)

// importBlock is one `import {}` block: the resource address and its import ID.
type importBlock struct {
	typ, label, id string
	// comment, when set, is written on its own line above the block.
	comment string
}

// printImportBlocks lists every key account, app and app secret of b and
// writes an import block for each to w.
func printImportBlocks(ctx context.Context, b backend.Backend, store string, w, stderr io.Writer) int {
	accounts, err := b.ListAccounts(ctx, backend.ListAccountsRequest{})
	if err != nil {
		fmt.Fprintf(stderr, "%s accounts: listing API key accounts: %v\n", Program, err)
		return exitFail
	}
	apps, err := b.ListApps(ctx, backend.ListAppsRequest{})
	if err != nil {
		fmt.Fprintf(stderr, "%s accounts: listing apps: %v\n", Program, err)
		return exitFail
	}
	writeImportBlocks(w, redactStore(store), importBlocks(accounts, apps))
	return exitOK
}

// importBlocks returns the import blocks of accounts, apps and their secrets:
// accounts first, then apps, then app secrets, each sorted by name (then ID),
// with labels derived from the names, unique within each resource type.
func importBlocks(accounts []backend.Account, apps []backend.App) []importBlock {
	accounts = append([]backend.Account(nil), accounts...)
	sort.SliceStable(accounts, func(i, j int) bool {
		if accounts[i].Name != accounts[j].Name {
			return accounts[i].Name < accounts[j].Name
		}
		return accounts[i].ID < accounts[j].ID
	})
	apps = append([]backend.App(nil), apps...)
	sort.SliceStable(apps, func(i, j int) bool {
		if apps[i].Name != apps[j].Name {
			return apps[i].Name < apps[j].Name
		}
		return apps[i].ID < apps[j].ID
	})

	var blocks []importBlock
	labels := newLabeler()
	for _, a := range accounts {
		blk := importBlock{typ: tfAccount, label: labels.label(tfAccount, a.Name), id: a.ID}
		if a.Admin {
			blk.comment = "An admin account: the credentials of the server's admin API. Rotating it changes them."
		}
		blocks = append(blocks, blk)
	}
	for _, a := range apps {
		blocks = append(blocks, importBlock{typ: tfApp, label: labels.label(tfApp, a.Name), id: a.ID})
	}
	for _, a := range apps {
		secrets := append([]backend.AppSecret(nil), a.Secrets...)
		sort.SliceStable(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
		for _, s := range secrets {
			blocks = append(blocks, importBlock{
				typ:   tfAppSecret,
				label: labels.label(tfAppSecret, a.Name+"_"+s.Name),
				id:    a.ID + "/" + s.Name,
			})
		}
	}
	return blocks
}

func writeImportBlocks(w io.Writer, store string, blocks []importBlock) {
	fmt.Fprintf(w, `# Import blocks for every API key account, app and app secret in
#   %s
# written by "%s accounts --import-blocks".
#
# Save this next to a provider "apphost" block that reaches the same backend
# (store_path, or endpoint and credentials) and run
#
#   terraform plan -generate-config-out=generated.tf
#
# Terraform writes the configuration of each resource to generated.tf. Review
# it, then "terraform apply" imports everything without changing the backend.
#
# Secrets cannot be read back: an imported key account has no secret in state
# and an imported app secret no value. A bound app secret needs none: the
# backend fills it and reseals it at every rotation of its key. To rotate a
# key through Terraform, give it rotation_triggers (and expose_secret = false
# to keep its secret out of Terraform): the next apply rotates it in one
# backend operation that redeploys every app bound to it.
`, store, Program)
	if len(blocks) == 0 {
		fmt.Fprintln(w, "#\n# The backend holds no API key accounts and no apps.")
		return
	}
	for _, b := range blocks {
		fmt.Fprintln(w)
		if b.comment != "" {
			fmt.Fprintf(w, "# %s\n", b.comment)
		}
		fmt.Fprintf(w, "import {\n  to = %s.%s\n  id = %s\n}\n", b.typ, b.label, strconv.Quote(b.id))
	}
}

// labeler hands out resource labels: names made valid HCL identifiers,
// unique within each resource type.
type labeler struct {
	used map[string]bool
}

func newLabeler() *labeler { return &labeler{used: map[string]bool{}} }

func (l *labeler) label(typ, name string) string {
	base := sanitizeLabel(name)
	label := base
	for n := 2; l.used[typ+"."+label]; n++ {
		label = base + "_" + strconv.Itoa(n)
	}
	l.used[typ+"."+label] = true
	return label
}

// sanitizeLabel turns a name into a Terraform resource label: lower case
// ASCII letters, digits and underscores, starting with a letter or an
// underscore. Runs of other characters become one underscore.
func sanitizeLabel(name string) string {
	var sb strings.Builder
	pendingSep := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if pendingSep && sb.Len() > 0 {
				sb.WriteByte('_')
			}
			pendingSep = false
			sb.WriteRune(r)
		default:
			pendingSep = true
		}
	}
	s := sb.String()
	switch {
	case s == "":
		return "unnamed"
	case s[0] >= '0' && s[0] <= '9':
		return "_" + s
	}
	return s
}
