package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment of the browser tests.
const (
	// EnvRequireChromium=1 makes a missing Chromium a failure, not a skip (CI).
	envRequireChromium = "APPHOST_REQUIRE_CHROMIUM"
	// EnvChromium names the browser binary; default: chromium on PATH.
	envChromium = "APPHOST_CHROMIUM"
	// EnvScreenshots is where the screenshots go; default: the test's temp dir.
	envScreenshots = "APPHOST_SCREENSHOT_DIR"
)

// chromium finds the browser, or skips (fails under APPHOST_REQUIRE_CHROMIUM=1).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(envRequireChromium) == "1" {
		t.Fatalf("%s=1 but no Chromium found (install Debian's chromium package, or set %s)", envRequireChromium, envChromium)
	}
	t.Skipf("no Chromium on PATH (apt-get install chromium); set %s=1 to make this a failure", envRequireChromium)
	return ""
}

// newChrome starts a headless Chromium with a fresh profile and nothing
// running in the background (no QUIC, sync, component updates or other
// network of its own: those hang on a machine without Internet access).
func newChrome(t *testing.T) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes can still write to the
	// profile for a moment after the browser has exited, and t.TempDir's
	// cleanup then fails the test. Registered first, so it runs last.
	profile, err := os.MkdirTemp("", "apphost-chromium-") //nolint:usetesting // see above: t.TempDir cannot wait for Chromium
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeProfile(t, profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv(envScreenshots); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowser drives Chromium through the console as a person would: sign
// in, see the locked key marked, follow a key to its apps, see the rotation
// with each app's downtime, at a laptop's width and a phone's; and no page's
// HTML ever holds a secret.
func TestBrowser(t *testing.T) {
	ctx := newChrome(t)
	w := newWorld(t)
	shots := screenshotDir(t)
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var html, loc string
			_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.OuterHTML("body", &html, chromedp.ByQuery))
			t.Fatalf("%s: %v (at %s)\n%s", what, err, loc, html)
		}
	}
	shot := func(name string) {
		t.Helper()
		var png []byte
		run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	var seen []string // the pages visited, for the secret check
	checkHTML := func() {
		t.Helper()
		var html, loc string
		run("read the page", chromedp.OuterHTML("html", &html), chromedp.Location(&loc))
		for _, s := range w.secrets {
			if strings.Contains(html, s) {
				t.Errorf("%s: the page's HTML holds a secret", loc)
			}
		}
		if strings.Contains(strings.ToLower(html), "<script") {
			t.Errorf("%s: the page holds a script", loc)
		}
		seen = append(seen, loc)
	}

	// A page without a session sends the browser to the sign-in form.
	var loc string
	run("open the keys page", chromedp.Navigate(w.url+"/console/keys"),
		chromedp.WaitVisible("#key_id", chromedp.ByQuery), chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/console/signin") {
		t.Errorf("without a session the keys page went to %s, want the sign-in form", loc)
	}
	checkHTML()
	shot("signin")
	run("sign in",
		chromedp.SendKeys("#key_id", w.admin.ID, chromedp.ByQuery),
		chromedp.SendKeys("#secret", w.admin.Secret, chromedp.ByQuery),
		chromedp.Click(`button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-account]`, chromedp.ByQuery),
		chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/console/keys") {
		t.Fatalf("after sign-in the browser is at %s, want /console/keys", loc)
	}
	checkHTML()

	// The locked key is marked, and its row stands out; the others are not.
	var status, class, siemStatus string
	billing := fmt.Sprintf(`tr[data-account=%q]`, w.billing.ID)
	siem := fmt.Sprintf(`tr[data-account=%q]`, w.siem.ID)
	run("read the locked key",
		chromedp.Text(billing+` td[data-label="Status"]`, &status, chromedp.ByQuery),
		chromedp.AttributeValue(billing, "class", &class, nil, chromedp.ByQuery),
		chromedp.Text(siem+` td[data-label="Status"]`, &siemStatus, chromedp.ByQuery))
	if strings.TrimSpace(status) != "Locked" || class != "locked" {
		t.Errorf("billing-export: status %q, row class %q; want Locked, locked", status, class)
	}
	if strings.Contains(siemStatus, "Locked") {
		t.Errorf("siem-forwarder is marked %q", siemStatus)
	}
	shot("keys")
	// At a phone's width every row is a card and nothing runs off the side.
	var fits bool
	run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &fits))
	if !fits {
		t.Error("at 390 px the keys page is wider than the screen")
	}
	shot("keys-phone")
	run("laptop width", chromedp.EmulateViewport(1280, 900))

	// Follow the rotated key to its apps.
	var h1, apps string
	run("follow siem-forwarder to its apps",
		chromedp.Click(siem+` td[data-label="Name"] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-app]`, chromedp.ByQuery),
		chromedp.Text("h1", &h1, chromedp.ByQuery),
		chromedp.Text("tbody", &apps, chromedp.ByQuery))
	if h1 != "Apps bound to siem-forwarder" || !strings.Contains(apps, "siem-archiver") || !strings.Contains(apps, "siem-forwarder") ||
		strings.Contains(apps, "billing-export") {
		t.Errorf("the apps of siem-forwarder: %q\n%s", h1, apps)
	}
	checkHTML()

	// All apps: the billing app, whose key is locked, failed and stands out.
	var billStatus string
	run("all apps", chromedp.Navigate(w.url+"/console/apps"), chromedp.WaitVisible(`tr[data-app]`, chromedp.ByQuery),
		chromedp.Text(`tr.failed td[data-label="Actual"]`, &billStatus, chromedp.ByQuery))
	if strings.TrimSpace(billStatus) != "failed" {
		t.Errorf("the failed app is shown as %q", billStatus)
	}
	checkHTML()
	shot("apps")

	// The rotation, with each app's downtime in the table and the chart.
	var rot string
	var downtimes, bars []string
	run("the rotations", chromedp.Navigate(w.url+"/console/rotations"),
		chromedp.WaitVisible(`section.rotation`, chromedp.ByQuery),
		chromedp.Text(`section.rotation`, &rot, chromedp.ByQuery),
		textAll(`section.rotation td.downtime`, &downtimes),
		attrAll(`section.rotation svg rect.bar`, "width", &bars))
	if !strings.Contains(rot, "siem-forwarder · secret version 1 → 2") || !strings.Contains(rot, "siem-archiver") ||
		strings.Count(rot, "login.failure") != 2 {
		t.Errorf("the rotation of siem-forwarder:\n%s", rot)
	}
	if len(downtimes) != 2 || len(bars) != 2 {
		t.Errorf("downtimes %q, bars %q; want one of each per app", downtimes, bars)
	}
	for _, d := range downtimes {
		if !strings.HasSuffix(d, " ms") || d == "0.000 ms" {
			t.Errorf("downtime %q, want a measured N.NNN ms", d)
		}
	}
	checkHTML()
	shot("rotations")

	// The audit log, filtered to the locked key: its failed logins and lock.
	var events string
	run("audit of billing-export", chromedp.Navigate(w.url+"/console/audit?target=billing-export"),
		chromedp.WaitVisible(`tbody tr`, chromedp.ByQuery), chromedp.Text("tbody", &events, chromedp.ByQuery))
	if !strings.Contains(events, "api_key_account.lock") || strings.Contains(events, "siem-archiver") {
		t.Errorf("the audit of billing-export:\n%s", events)
	}
	checkHTML()
	run("whole audit", chromedp.Navigate(w.url+"/console/audit"), chromedp.WaitVisible(`tbody tr`, chromedp.ByQuery))
	checkHTML()
	shot("audit")

	// Sign out: back to the form, and the pages are closed again.
	run("sign out", chromedp.Click(`header button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#key_id", chromedp.ByQuery),
		chromedp.Navigate(w.url+"/console/keys"), chromedp.WaitVisible("#key_id", chromedp.ByQuery))
	t.Logf("pages checked for secrets: %s", strings.Join(seen, " "))
}

// textAll reads the text of every node matching sel.
func textAll(sel string, out *[]string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.textContent.trim())`, sel), out)
}

// attrAll reads attribute attr of every node matching sel.
func attrAll(sel, attr string, out *[]string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.getAttribute(%q))`, sel, attr), out)
}

// removeProfile removes a Chromium profile directory, giving the browser's
// last helper processes a moment to let go of it.
func removeProfile(t *testing.T, dir string) {
	var err error
	for range 50 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("leaving the Chromium profile %s: %v", dir, err)
}
