package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// testAccProviders serves the provider in-process.
var testAccProviders = providersWithClock(time.Now)

// providersWithClock serves the provider in-process with the clock now.
func providersWithClock(now func() time.Time) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"apphost": providerserver.NewProtocol6WithError(newWithClock("test", now)()),
	}
}

// testClock is time.Now moved by an offset a test sets.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) set(d time.Duration) {
	c.mu.Lock()
	c.offset = d
	c.mu.Unlock()
}

// accEnv is one test's embedded backend: its own store file, opened in the
// test process through the provider's cache of embedded backends, so the
// test and the provider share one open store.
type accEnv struct {
	t         *testing.T
	storePath string
	b         backend.Backend
}

func newAccEnv(t *testing.T) *accEnv {
	t.Helper()
	p := filepath.Join(t.TempDir(), "apphost.db")
	b, _, err := embeddedBackend(context.Background(), p)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	return &accEnv{t: t, storePath: p, b: b}
}

// provider is the provider block using the test's store.
func (e *accEnv) provider() string {
	return fmt.Sprintf(`
provider "apphost" {
  store_path = %[1]q
}
`, e.storePath)
}

// lastSeq returns the sequence number of the newest audit event.
func (e *accEnv) lastSeq() int64 {
	e.t.Helper()
	ev, err := e.b.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		e.t.Fatalf("reading the audit log: %v", err)
	}
	if len(ev) == 0 {
		return 0
	}
	return ev[len(ev)-1].Seq
}

// events returns the audit events after seq.
func (e *accEnv) events(seq int64) ([]backend.AuditEvent, error) {
	return e.b.ListAuditEvents(context.Background(), backend.AuditQuery{AfterSeq: seq})
}

// auditLog renders events for failure messages.
func auditLog(ev []backend.AuditEvent) string {
	var b strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&b, "  %d %s %s %s %s\n", e.Seq, e.Actor, e.Action, e.TargetType, e.TargetName)
	}
	return b.String()
}

// find returns the index of the first event at or after from matching the
// predicate, or -1.
func find(ev []backend.AuditEvent, from int, match func(backend.AuditEvent) bool) int {
	for i := from; i < len(ev); i++ {
		if match(ev[i]) {
			return i
		}
	}
	return -1
}

func action(act, targetName string) func(backend.AuditEvent) bool {
	return func(e backend.AuditEvent) bool { return e.Action == act && e.TargetName == targetName }
}

func loginBy(act, actor string) func(backend.AuditEvent) bool {
	return func(e backend.AuditEvent) bool { return e.Action == act && e.Actor == actor }
}

// backendCheck is a state check that looks at the backend (its objects or
// its audit log) rather than at the state: what the apply did there.
type backendCheck func() error

func (c backendCheck) CheckState(_ context.Context, _ statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = c()
}

// afterApply is a state check that only runs f, once the step's apply is done
// and before the plans that follow it.
type afterApply func()

func (f afterApply) CheckState(context.Context, statecheck.CheckStateRequest, *statecheck.CheckStateResponse) {
	f()
}

// checkRotationOrder checks, for each app, that the audit log after seq
// shows: app.undeploy, then the regeneration of account, then app_secret.put
// and app.deploy, then a login.success by the app; and no failed login or
// lock at all.
func (e *accEnv) checkRotationOrder(seq *int64, account, secretName string, apps ...string) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		regen := find(ev, 0, action(backend.ActionAccountRegenerate, account))
		if regen < 0 {
			return fmt.Errorf("no %s of %s in the audit log:\n%s", backend.ActionAccountRegenerate, account, auditLog(ev))
		}
		for _, app := range apps {
			undeploy := find(ev, 0, action(backend.ActionAppUndeploy, app))
			put := find(ev, regen, action(backend.ActionAppSecretPut, app+"/"+secretName))
			deploy := find(ev, max(put, regen), action(backend.ActionAppDeploy, app))
			login := find(ev, max(deploy, regen), loginBy(backend.ActionLoginSuccess, app))
			switch {
			case undeploy < 0 || undeploy > regen:
				return fmt.Errorf("app %s was not undeployed before the regeneration:\n%s", app, auditLog(ev))
			case put < 0:
				return fmt.Errorf("the secret of app %s was not stored after the regeneration:\n%s", app, auditLog(ev))
			case deploy < 0:
				return fmt.Errorf("app %s was not deployed after the regeneration:\n%s", app, auditLog(ev))
			case login < 0:
				return fmt.Errorf("app %s did not log in after the regeneration:\n%s", app, auditLog(ev))
			}
		}
		return e.checkNoFailedLogin(seq)()
	}
}

// checkNoFailedLogin checks that the audit log after seq has no failed login or lock.
func (e *accEnv) checkNoFailedLogin(seq *int64) backendCheck {
	return func() error {
		ev, err := e.events(*seq)
		if err != nil {
			return err
		}
		for _, x := range ev {
			if x.Action == backend.ActionLoginFailure || x.Action == backend.ActionAccountLock {
				return fmt.Errorf("unexpected %s:\n%s", x.Action, auditLog(ev))
			}
		}
		return nil
	}
}

// noSecret is a plan check and a state check that fails when the plan's or
// the state's JSON (as terraform show -json prints it) holds something
// shaped like an apphost key secret.
type noSecret struct{}

func (noSecret) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = noSecretIn("plan", req.Plan)
}

func (noSecret) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = noSecretIn("state", req.State)
}

func noSecretIn(what string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if at := strings.Index(string(raw), "ahk_"); at >= 0 {
		return fmt.Errorf("the %s holds a key secret at byte %d", what, at)
	}
	return nil
}

// checkAccount checks the account's state in the backend.
func (e *accEnv) checkAccount(name string, check func(*backend.Account) error) backendCheck {
	return func() error {
		a, err := e.b.GetAccountByName(context.Background(), name)
		if err != nil {
			return err
		}
		return check(a)
	}
}

// checkAppRunning checks in the backend that the app runs. (The app's status
// in state is as of the plan's refresh: an apply that redeploys the app
// through its app secret does not update the apphost_app resource.)
func (e *accEnv) checkAppRunning(name string) backendCheck {
	return func() error {
		a, err := e.b.GetAppByName(context.Background(), name)
		if err != nil {
			return err
		}
		if a.Status != backend.StatusRunning || !a.Deployed {
			return fmt.Errorf("app %s is not running: deployed %v, status %s", name, a.Deployed, a.Status)
		}
		return nil
	}
}

// mark records the newest audit sequence number in *seq: use it as PreConfig.
func (e *accEnv) mark(seq *int64) func() {
	return func() { *seq = e.lastSeq() }
}

// TestProviderSchema checks that the provider, resource and data source
// schemas are valid (the framework validates them when serving them).
func TestProviderSchema(t *testing.T) {
	srv, err := testAccProviders["apphost"]()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("%s: %s: %s", d.Severity, d.Summary, d.Detail)
	}
	for _, name := range []string{"apphost_api_key_account", "apphost_app", "apphost_app_secret"} {
		if _, ok := resp.ResourceSchemas[name]; !ok {
			t.Errorf("resource %s is missing", name)
		}
	}
}
