package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// The App Hosts page tells real App Hosts (here one with an account that
// never connected: unknown) from the built-in one of the other names.
func TestAppHostsPage(t *testing.T) {
	w := newWorld(t)
	a, err := w.svc.CreateAccount(context.Background(), backend.CreateAccountRequest{Name: "east-host", AppHost: "apphost-east"})
	if err != nil {
		t.Fatal(err)
	}
	w.secrets = append(w.secrets, a.Secret)
	b := newBrowser(t, w.url, nil)
	b.signIn(w.admin.ID, w.admin.Secret)
	resp, page := b.do("GET", "/console/app-hosts", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("app-hosts: %d", resp.StatusCode)
	}
	east := row(page, `data-app-host="apphost-east"`)
	west := row(page, `data-app-host="apphost-west"`)
	if !strings.Contains(east, "unknown") || !strings.Contains(east, "siem-forwarder") || !strings.Contains(east, "billing-export") {
		t.Errorf("the real App Host's row: %s", east)
	}
	if !strings.Contains(west, "built-in") || !strings.Contains(west, "siem-archiver") {
		t.Errorf("the built-in App Host's row: %s", west)
	}
}

// row returns the table row of page that holds attr.
func row(page, attr string) string {
	i := strings.Index(page, attr)
	if i < 0 {
		return ""
	}
	end := strings.Index(page[i:], "</tr>")
	if end < 0 {
		return page[i:]
	}
	return page[i : i+end]
}
