package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/console"
)

var (
	nextLink = regexp.MustCompile(`href="(/console/[a-z]+\?[^"]*(?:after|before)=[^"]+)">(?:Next page|Older)`)
	keyName  = regexp.MustCompile(`<tr class="[a-z]*" data-account="[^"]+">\s*<td data-label="Name"><a href="[^"]+">([^<]+)</a>`)
	eventSeq = regexp.MustCompile(`<td data-label="#">(\d+)</td>`)
)

// follow walks a listing's "next" links from path and returns every page.
func follow(t *testing.T, b *browser, path string) []string {
	t.Helper()
	var pages []string
	for path != "" {
		resp, body := b.do("GET", path, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		pages = append(pages, body)
		path = ""
		if m := nextLink.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
		if len(pages) > 100 {
			t.Fatal("more than 100 pages")
		}
	}
	return pages
}

// TestPagesOfKeysAndAudit: the keys and the audit log come a page at a time
// (the store reads one page per query), and the pages together hold every
// row once, in order.
func TestPagesOfKeysAndAudit(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	const extra = 2*console.PageSize + 7
	for i := range extra {
		if _, err := w.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: fmt.Sprintf("bulk-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, w.url, nil)
	b.signIn(w.admin.ID, w.admin.Secret)

	all, err := w.svc.ListAccounts(ctx, backend.ListAccountsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pages := follow(t, b, "/console/keys")
	var names []string
	for _, p := range pages {
		n := 0
		for _, m := range keyName.FindAllStringSubmatch(p, -1) {
			names = append(names, html.UnescapeString(m[1]))
			n++
		}
		if n > console.PageSize {
			t.Errorf("a page of %d keys, want at most %d", n, console.PageSize)
		}
	}
	if len(pages) != (len(all)+console.PageSize-1)/console.PageSize {
		t.Errorf("%d pages for %d keys", len(pages), len(all))
	}
	var want []string
	for _, a := range all {
		want = append(want, a.Name)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("keys over the pages:\n%v\nwant\n%v", names, want)
	}

	// The audit log, newest first, every event once.
	events, err := w.svc.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for _, p := range follow(t, b, "/console/audit") {
		for _, m := range eventSeq.FindAllStringSubmatch(p, -1) {
			seqs = append(seqs, m[1])
		}
	}
	var wantSeqs []string
	for i := len(events) - 1; i >= 0; i-- {
		wantSeqs = append(wantSeqs, fmt.Sprint(events[i].Seq))
	}
	if strings.Join(seqs, ",") != strings.Join(wantSeqs, ",") {
		t.Errorf("audit events over the pages: %d, want %d newest first", len(seqs), len(wantSeqs))
	}
}

// TestOldSecretsStandOut: a secret older than the limit (90 days) is marked.
func TestOldSecretsStandOut(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t, w.url, nil)
	b.signIn(w.admin.ID, w.admin.Secret)
	_, page := b.do("GET", "/console/keys", nil, nil)
	if strings.Contains(page, `class="badge warn"`) {
		t.Error("a fresh secret is marked old")
	}
	w.clock.Add(91 * 24 * time.Hour)
	b.signIn(w.admin.ID, w.admin.Secret) // the old session ended with the clock
	_, page = b.do("GET", "/console/keys", nil, nil)
	if n := strings.Count(page, `class="badge warn"`); n != 4 {
		t.Errorf("%d secrets marked old after 91 days, want all 4", n)
	}
	if !strings.Contains(page, "91d old") {
		t.Error("no secret age of 91d shown")
	}
}
