package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// dsRFC3339 matches the secret_created_at the data sources return.
var dsRFC3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)

// dsFixture is the test's embedded backend (an accEnv) filled for the data
// source tests:
//
//	accounts siem-forwarder, siem-collector, billing-export and backup-agent
//	(locked by wrong logins);
//	apps forwarder (apphost-east, deployed, secret "siem" bound to
//	siem-forwarder and in its secret_names, a command, timeouts and a reload
//	signal), collector (apphost-west, not deployed, secret "siem"
//	bound to siem-collector) and billing (default App Host, deployed, no
//	secrets).
type dsFixture struct {
	*accEnv
	accounts map[string]*backend.AccountWithSecret
	apps     map[string]*backend.App
}

// secrets returns every secret the fixture knows, to prove none reaches state.
func (f *dsFixture) secrets() []string {
	var s []string
	for _, a := range f.accounts {
		s = append(s, a.Secret)
	}
	return s
}

// providerConfig is the provider block that uses the fixture's store.
func (f *dsFixture) providerConfig() string { return f.provider() }

func newDSFixture(t *testing.T) *dsFixture {
	t.Helper()
	ctx := t.Context()
	f := &dsFixture{
		accEnv:   newAccEnv(t),
		accounts: map[string]*backend.AccountWithSecret{},
		apps:     map[string]*backend.App{},
	}
	b := f.b

	for _, a := range []struct{ name, desc string }{
		{"siem-forwarder", "Forwards events to the SIEM"},
		{"siem-collector", "Collects events"},
		{"billing-export", "Exports invoices"},
		{"backup-agent", "Nightly backups"},
	} {
		acct, err := b.CreateAccount(ctx, backend.CreateAccountRequest{Name: a.name, Description: a.desc})
		if err != nil {
			t.Fatalf("creating account %s: %v", a.name, err)
		}
		f.accounts[a.name] = acct
	}
	for i := 0; i < backend.DefaultLockoutThreshold; i++ {
		_ = b.Login(ctx, backend.LoginRequest{AccountID: f.accounts["backup-agent"].ID, Secret: "wrong"})
	}

	for _, a := range []struct {
		name, host, version string
		config              map[string]string
		account             string
		deployed            bool
		secretNames         []string
		runtime             backend.AppRuntime
	}{
		{"forwarder", "apphost-east", "1.2.0", map[string]string{"log_level": "info"}, "siem-forwarder", true, []string{"siem"},
			backend.AppRuntime{Command: []string{"forwarder", "--to", "siem"}, StopTimeout: "5s", StartTimeout: "2m", ReloadSignal: "SIGHUP"}},
		{"collector", "apphost-west", "0.9.1", nil, "siem-collector", false, nil, backend.AppRuntime{}},
		{"billing", backend.DefaultAppHost, "2.0.0", nil, "", true, nil, backend.AppRuntime{}},
	} {
		app, err := b.CreateApp(ctx, backend.CreateAppRequest{
			Name: a.name, AppHost: a.host, Version: a.version, Config: a.config, SecretNames: a.secretNames, AppRuntime: a.runtime,
		})
		if err != nil {
			t.Fatalf("creating app %s: %v", a.name, err)
		}
		if a.account != "" {
			if _, err := b.PutAppSecret(ctx, backend.PutAppSecretRequest{
				AppID: app.ID, Name: "siem", AccountID: f.accounts[a.account].ID,
			}); err != nil {
				t.Fatalf("putting the secret of app %s: %v", a.name, err)
			}
		}
		if a.deployed {
			if _, err := b.DeployApp(ctx, app.ID); err != nil {
				t.Fatalf("deploying app %s: %v", a.name, err)
			}
		}
		if app, err = b.GetApp(ctx, app.ID); err != nil {
			t.Fatalf("reading app %s: %v", a.name, err)
		}
		f.apps[a.name] = app
	}

	locked, err := b.GetAccount(ctx, f.accounts["backup-agent"].ID)
	if err != nil || !locked.Locked {
		t.Fatalf("backup-agent should be locked after %d wrong logins: %+v, %v",
			backend.DefaultLockoutThreshold, locked, err)
	}
	return f
}

// dsNoSecretInState fails when any value in the state equals one of secrets
// or contains it, or when any attribute is named like a secret value.
func dsNoSecretInState(secrets []string) statecheck.StateCheck {
	return dsNoSecretCheck{secrets: secrets}
}

type dsNoSecretCheck struct{ secrets []string }

func (c dsNoSecretCheck) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	if req.State == nil || req.State.Values == nil || req.State.Values.RootModule == nil {
		resp.Error = fmt.Errorf("no state to check")
		return
	}
	var resources []*tfjson.StateResource
	resources = append(resources, req.State.Values.RootModule.Resources...)
	if len(resources) == 0 {
		resp.Error = fmt.Errorf("the state holds no data sources to check")
		return
	}
	for _, r := range resources {
		if err := c.walk(r.Address, r.AttributeValues); err != nil {
			resp.Error = err
			return
		}
	}
}

func (c dsNoSecretCheck) walk(at string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "secret" || k == "value" || k == "secret_value" {
				return fmt.Errorf("%s.%s: an attribute that looks like a secret value", at, k)
			}
			if err := c.walk(at+"."+k, e); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := c.walk(fmt.Sprintf("%s[%d]", at, i), e); err != nil {
				return err
			}
		}
	case string:
		for _, s := range c.secrets {
			if s != "" && strings.Contains(v, s) {
				return fmt.Errorf("%s holds a secret", at)
			}
		}
	}
	return nil
}

func TestNearMatches(t *testing.T) {
	names := []string{
		"siem-forwarder", "siem-collector", "SIEM-Forwarder", "billing-export",
		"backup-agent", "forwarder", "siem", "zzz",
	}
	cases := []struct {
		name string
		want []string
	}{
		// Case, one edit, then substrings, then a shared prefix.
		{"siem-forwarde", []string{"siem-forwarder", "SIEM-Forwarder", "siem", "siem-collector"}},
		{"Siem-Forwarder", []string{"siem-forwarder", "SIEM-Forwarder", "forwarder", "siem", "siem-collector"}},
		{"billing", []string{"billing-export"}},
		{"bakup-agent", []string{"backup-agent"}},
		{"nothing-like-it", []string{}},
	}
	for _, c := range cases {
		got := nearMatches(c.name, names)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("nearMatches(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	many := []string{"app-1", "app-2", "app-3", "app-4", "app-5", "app-6", "app-7"}
	if got := nearMatches("app-0", many); len(got) != maxNearMatches {
		t.Errorf("nearMatches returned %d names, want at most %d: %q", len(got), maxNearMatches, got)
	}
	if got := nearMatches("app-1", many); len(got) > 0 && got[0] == "app-1" {
		t.Errorf("nearMatches suggests the name itself: %q", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"siem", "seim", 2}, {"héllo", "hello", 1},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
