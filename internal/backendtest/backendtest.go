// Package backendtest is the contract test suite of backend.Backend: the same
// tests run against the embedded backend and against the HTTP client talking
// to a server, so both keep the same semantics.
package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// Run runs the contract suite. newBackend must return an empty backend (it
// may hold an admin account) with the default lockout threshold; each
// subtest gets its own.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend.Backend)
	}{
		{"AccountCRUD", testAccountCRUD},
		{"AccountConflict", testAccountConflict},
		{"NotFound", testNotFound},
		{"Invalid", testInvalid},
		{"NULByte", testNULByte},
		{"LoginLockout", testLoginLockout},
		{"RegenerateIdempotent", testRegenerateIdempotent},
		{"Apps", testApps},
		{"AppSecrets", testAppSecrets},
		{"Rotation", testRotation},
		{"OverlapRotation", testOverlapRotation},
		{"ExposeSecret", testExposeSecret},
		{"DeleteAccountInUse", testDeleteAccountInUse},
		{"Audit", testAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newTarget(t).Backend)
		})
	}
	t.Run("StaleSecretLocks", func(t *testing.T) { testStaleSecretLocks(t, newTarget(t)) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// must(f())(t) returns f's value, failing t on f's error. (Go forwards
// multiple results only as a call's sole arguments, hence the shape.)
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantCode fails unless err is a *backend.Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	_ = wantError(t, err, code)
}

// wantError is wantCode that returns the *backend.Error for more checks.
func wantError(t *testing.T, err error, code string) *backend.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s, got none", code)
	}
	if got := backend.CodeOf(err); got != code {
		t.Fatalf("want error code %s, got %q: %v", code, got, err)
	}
	var be *backend.Error
	errors.As(err, &be)
	return be
}

// events returns the audit events about target, oldest first.
func events(t *testing.T, b backend.Backend, after int64, target string) []backend.AuditEvent {
	t.Helper()
	var out []backend.AuditEvent
	for _, e := range EventsAfter(t, b, after) {
		if e.TargetID == target {
			out = append(out, e)
		}
	}
	return out
}

// field lists one field of each of xs, for messages and comparisons.
func field[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func actions(evs []backend.AuditEvent) []string {
	return field(evs, func(e backend.AuditEvent) string { return e.Action })
}

func testAccountCRUD(t *testing.T, b backend.Backend) {
	c := ctx(t)
	created := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "siem-forwarder", Description: "SIEM"}))(t)
	if _, err := uuid.Parse(created.ID); err != nil {
		t.Errorf("ID %q is not a UUID", created.ID)
	}
	if len(created.Secret) < 32 {
		t.Errorf("secret is too short: %d characters", len(created.Secret))
	}
	if created.SecretVersion != 1 || created.Locked || created.FailedLoginAttempts != 0 || created.Admin {
		t.Errorf("new account: %+v", created.Account)
	}
	if created.SecretCreatedAt.IsZero() {
		t.Error("secret_created_at is zero")
	}

	got := must(b.GetAccount(c, created.ID))(t)
	if got.Name != "siem-forwarder" || got.Description != "SIEM" || got.SecretVersion != 1 {
		t.Errorf("GetAccount: %+v", got)
	}
	if raw, _ := json.Marshal(got); strings.Contains(string(raw), created.Secret) {
		t.Error("a read returned the secret")
	}
	byName := must(b.GetAccountByName(c, "siem-forwarder"))(t)
	if byName.ID != created.ID {
		t.Errorf("GetAccountByName: ID %s, want %s", byName.ID, created.ID)
	}
	list := must(b.ListAccounts(c, backend.ListAccountsRequest{}))(t)
	if !slices.ContainsFunc(list, func(a backend.Account) bool { return a.ID == created.ID }) {
		t.Error("ListAccounts misses the account")
	}

	updated := must(b.UpdateAccount(c, backend.UpdateAccountRequest{ID: created.ID, Name: "siem", Description: "renamed"}))(t)
	if updated.ID != created.ID || updated.Name != "siem" || updated.Description != "renamed" {
		t.Errorf("UpdateAccount: %+v", updated)
	}
	if updated.SecretVersion != 1 || !updated.SecretCreatedAt.Equal(created.SecretCreatedAt) {
		t.Errorf("an update touched the secret: version %d, created %s", updated.SecretVersion, updated.SecretCreatedAt)
	}
	noErr(t, b.Login(c, backend.LoginRequest{AccountID: created.ID, Secret: created.Secret}))

	noErr(t, b.DeleteAccount(c, backend.DeleteAccountRequest{ID: created.ID}))
	_, err := b.GetAccount(c, created.ID)
	wantCode(t, err, backend.CodeNotFound)
	wantCode(t, b.DeleteAccount(c, backend.DeleteAccountRequest{ID: created.ID}), backend.CodeNotFound)

	evs := events(t, b, 0, created.ID)
	for _, want := range []string{backend.ActionAccountCreate, backend.ActionAccountUpdate, backend.ActionAccountDelete} {
		if Count(evs, want) != 1 {
			t.Errorf("want one %s event, got %v", want, actions(evs))
		}
	}
}

func testAccountConflict(t *testing.T, b backend.Backend) {
	c := ctx(t)
	a := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "one"}))(t)
	must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "two"}))(t)
	_, err := b.CreateAccount(c, backend.CreateAccountRequest{Name: "one"})
	wantCode(t, err, backend.CodeConflict)
	_, err = b.UpdateAccount(c, backend.UpdateAccountRequest{ID: a.ID, Name: "two"})
	wantCode(t, err, backend.CodeConflict)
	got := must(b.GetAccount(c, a.ID))(t)
	if got.Name != "one" {
		t.Errorf("a refused rename changed the name to %q", got.Name)
	}

	must(b.CreateApp(c, backend.CreateAppRequest{Name: "app"}))(t)
	_, err = b.CreateApp(c, backend.CreateAppRequest{Name: "app"})
	wantCode(t, err, backend.CodeConflict)
}

func testNotFound(t *testing.T, b backend.Backend) {
	c := ctx(t)
	missing := uuid.NewString()
	_, err := b.GetAccount(c, missing)
	wantCode(t, err, backend.CodeNotFound)
	_, err = b.GetAccountByName(c, "no-such-account")
	wantCode(t, err, backend.CodeNotFound)
	_, err = b.UpdateAccount(c, backend.UpdateAccountRequest{ID: missing, Name: "x"})
	wantCode(t, err, backend.CodeNotFound)
	_, err = b.RegenerateSecret(c, backend.RegenerateRequest{ID: missing})
	wantCode(t, err, backend.CodeNotFound)
	_, err = b.GetApp(c, missing)
	wantCode(t, err, backend.CodeNotFound)
	_, err = b.GetAppByName(c, "no-such-app")
	wantCode(t, err, backend.CodeNotFound)
	_, err = b.DeployApp(c, missing)
	wantCode(t, err, backend.CodeNotFound)
	wantCode(t, b.DeleteApp(c, missing), backend.CodeNotFound)
	app := must(b.CreateApp(c, backend.CreateAppRequest{Name: "app"}))(t)
	_, err = b.GetAppSecret(c, app.ID, "nope")
	wantCode(t, err, backend.CodeNotFound)
	wantCode(t, b.DeleteAppSecret(c, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "nope"}), backend.CodeNotFound)
	// An unknown ID is a failed login, not a not-found: no probing for IDs.
	wantCode(t, b.Login(c, backend.LoginRequest{AccountID: missing, Secret: "x"}), backend.CodeLoginFailed)
}

func testInvalid(t *testing.T, b backend.Backend) {
	c := ctx(t)
	_, err := b.CreateAccount(c, backend.CreateAccountRequest{Name: ""})
	be := wantError(t, err, backend.CodeInvalid)
	if be != nil && be.Field != "name" {
		t.Errorf("field = %q, want name", be.Field)
	}
	_, err = b.CreateAccount(c, backend.CreateAccountRequest{Name: strings.Repeat("n", backend.MaxNameLength+1)})
	wantCode(t, err, backend.CodeInvalid)
	_, err = b.CreateApp(c, backend.CreateAppRequest{Name: ""})
	wantCode(t, err, backend.CodeInvalid)
}

// testNULByte: text with a NUL byte, which PostgreSQL cannot store, is
// refused as invalid, whatever the store, and nothing is kept. The domain
// names the field; the server refuses the whole request body before it
// reads a field, so no field is named there.
func testNULByte(t *testing.T, b backend.Backend) {
	c := ctx(t)
	wantField := func(what string, err error, field string) {
		t.Helper()
		be := wantError(t, err, backend.CodeInvalid)
		if be != nil && be.Field != "" && be.Field != field {
			t.Errorf("%s: field = %q, want %s", what, be.Field, field)
		}
	}
	_, err := b.CreateAccount(c, backend.CreateAccountRequest{Name: "nul", Description: "a\x00b"})
	wantField("create account", err, "description")
	a := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k", Description: "kept"}))(t)
	_, err = b.UpdateAccount(c, backend.UpdateAccountRequest{ID: a.ID, Name: "k", Description: "a\x00b"})
	wantField("update account", err, "description")
	_, err = b.CreateApp(c, backend.CreateAppRequest{Name: "nul", Version: "1\x00"})
	wantField("create app", err, "version")

	if got := must(b.GetAccount(c, a.ID))(t); got.Description != "kept" {
		t.Errorf("description after a refused update = %q, want kept", got.Description)
	}
	accounts := must(b.ListAccounts(c, backend.ListAccountsRequest{}))(t)
	for _, acct := range accounts {
		if acct.Name == "nul" {
			t.Errorf("refused account stored: %+v", acct)
		}
	}
	if apps := must(b.ListApps(c, backend.ListAppsRequest{}))(t); len(apps) != 0 {
		t.Errorf("refused app stored: %+v", apps)
	}
}

// testLoginLockout: counted logins (the embedded backend's, as the login
// command and the App Host's apps make them) lock at the threshold; logins
// over the network (the remote backend's POST /v1/login) never count, so no
// anonymous caller can lock an account. The App Host's apps lock it on both
// (UnsafeRotationLocks).
func testLoginLockout(t *testing.T, b backend.Backend) {
	c := ctx(t)
	a := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k"}))(t)
	noErr(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret}))
	if _, remote := b.(*client.Client); remote {
		for range 2 * backend.DefaultLockoutThreshold {
			wantCode(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: "wrong"}), backend.CodeLoginFailed)
		}
		got := must(b.GetAccount(c, a.ID))(t)
		if got.Locked || got.FailedLoginAttempts != 0 {
			t.Fatalf("network logins counted: locked %v, failed_login_attempts %d", got.Locked, got.FailedLoginAttempts)
		}
		noErr(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret}))
		return
	}
	for i := 1; i < backend.DefaultLockoutThreshold; i++ {
		wantCode(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: "wrong"}), backend.CodeLoginFailed)
	}
	got := must(b.GetAccount(c, a.ID))(t)
	if got.Locked || got.FailedLoginAttempts != backend.DefaultLockoutThreshold-1 {
		t.Fatalf("after %d failures: locked %v, failed_login_attempts %d", backend.DefaultLockoutThreshold-1, got.Locked, got.FailedLoginAttempts)
	}
	// The threshold-th failure locks.
	err := b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: "wrong"})
	if code := backend.CodeOf(err); code != backend.CodeLocked && code != backend.CodeLoginFailed {
		t.Fatalf("the locking failure: %v", err)
	}
	got = must(b.GetAccount(c, a.ID))(t)
	if !got.Locked {
		t.Fatalf("not locked after %d failures", backend.DefaultLockoutThreshold)
	}
	// Locked: even the right secret is refused.
	wantCode(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret}), backend.CodeLocked)
	locked := true
	list := must(b.ListAccounts(c, backend.ListAccountsRequest{Locked: &locked}))(t)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("ListAccounts(locked=true) = %v", list)
	}
	if n := Count(events(t, b, 0, a.ID), backend.ActionAccountLock); n != 1 {
		t.Errorf("want one lock event, got %d", n)
	}

	// Regenerating unlocks and resets the count; the old secret is dead.
	r := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: a.ID}))(t)
	if r.ID != a.ID || r.Locked || r.FailedLoginAttempts != 0 || r.SecretVersion != 2 || r.Secret == a.Secret {
		t.Errorf("after regenerate: %+v", r.Account)
	}
	wantCode(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret}), backend.CodeLoginFailed)
	noErr(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: r.Secret}))
}

func testRegenerateIdempotent(t *testing.T, b backend.Backend) {
	c := ctx(t)
	a := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k"}))(t)
	key := uuid.NewString()
	r1 := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: a.ID, IdempotencyKey: key}))(t)
	r2 := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: a.ID, IdempotencyKey: key}))(t)
	if r1.Secret != r2.Secret || r1.SecretVersion != 2 || r2.SecretVersion != 2 {
		t.Errorf("repeat with the same key: versions %d, %d; same secret %v", r1.SecretVersion, r2.SecretVersion, r1.Secret == r2.Secret)
	}
	r3 := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: a.ID, IdempotencyKey: uuid.NewString()}))(t)
	if r3.Secret == r1.Secret || r3.SecretVersion != 3 {
		t.Errorf("a new key: version %d, same secret %v", r3.SecretVersion, r3.Secret == r1.Secret)
	}
	// Without a key every call regenerates. (The HTTP client adds a fresh key
	// per call, which is the same thing.)
	r4 := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: a.ID}))(t)
	if r4.SecretVersion != 4 {
		t.Errorf("no key: version %d, want 4", r4.SecretVersion)
	}
	noErr(t, b.Login(c, backend.LoginRequest{AccountID: a.ID, Secret: r4.Secret}))
	if n := Count(events(t, b, 0, a.ID), backend.ActionAccountRegenerate); n != 3 {
		t.Errorf("want 3 regenerate events, got %d", n)
	}
}

// boundApp makes a deployed app with a secret bound to k (filled by the backend).
func boundApp(t *testing.T, b backend.Backend, name string, k *backend.AccountWithSecret) *backend.App {
	t.Helper()
	c := ctx(t)
	app := must(b.CreateApp(c, backend.CreateAppRequest{Name: name, AppHost: "apphost-east", Deployed: true}))(t)
	must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: k.Name, AccountID: k.ID}))(t)
	got := must(b.GetApp(c, app.ID))(t)
	if got.Status != backend.StatusRunning {
		t.Fatalf("app %s with the right secret: status %s", name, got.Status)
	}
	return got
}

func testApps(t *testing.T, b backend.Backend) {
	c := ctx(t)
	app := must(b.CreateApp(c, backend.CreateAppRequest{Name: "web", Version: "1.0", Config: map[string]string{"log": "info"}}))(t)
	if app.AppHost != backend.DefaultAppHost || app.Deployed || app.Status != backend.StatusStopped {
		t.Errorf("new app: %+v", app)
	}
	if app.Config["log"] != "info" {
		t.Errorf("config: %v", app.Config)
	}
	dep := must(b.DeployApp(c, app.ID))(t)
	if !dep.Deployed || dep.Status != backend.StatusRunning {
		t.Errorf("deployed app: deployed %v, status %s", dep.Deployed, dep.Status)
	}
	must(b.CreateApp(c, backend.CreateAppRequest{Name: "batch", AppHost: "apphost-east"}))(t)

	yes, no := true, false
	running := must(b.ListApps(c, backend.ListAppsRequest{Running: &yes}))(t)
	if len(running) != 1 || running[0].Name != "web" {
		t.Errorf("running=true: %v", names(running))
	}
	notDeployed := must(b.ListApps(c, backend.ListAppsRequest{Deployed: &no}))(t)
	if len(notDeployed) != 1 || notDeployed[0].Name != "batch" {
		t.Errorf("deployed=false: %v", names(notDeployed))
	}
	east := must(b.ListApps(c, backend.ListAppsRequest{AppHost: "apphost-east"}))(t)
	if len(east) != 1 || east[0].Name != "batch" {
		t.Errorf("app_host=apphost-east: %v", names(east))
	}
	all := must(b.ListApps(c, backend.ListAppsRequest{}))(t)
	if got := names(all); !slices.Equal(got, []string{"batch", "web"}) {
		t.Errorf("all apps, sorted: %v", got)
	}

	upd := must(b.UpdateApp(c, backend.UpdateAppRequest{ID: app.ID, Name: "web", AppHost: backend.DefaultAppHost, Version: "2.0", Deployed: true}))(t)
	if upd.Version != "2.0" || !upd.Deployed || upd.Status != backend.StatusRunning {
		t.Errorf("updated app: %+v", upd)
	}
	byName := must(b.GetAppByName(c, "web"))(t)
	if byName.ID != app.ID {
		t.Errorf("GetAppByName: %s", byName.ID)
	}
	und := must(b.UndeployApp(c, app.ID))(t)
	if und.Deployed || und.Status != backend.StatusStopped {
		t.Errorf("undeployed app: deployed %v, status %s", und.Deployed, und.Status)
	}
	noErr(t, b.DeleteApp(c, app.ID))
	_, err := b.GetApp(c, app.ID)
	wantCode(t, err, backend.CodeNotFound)

	evs := events(t, b, 0, app.ID)
	for _, want := range []string{backend.ActionAppCreate, backend.ActionAppDeploy, backend.ActionAppUndeploy, backend.ActionAppDelete} {
		if Count(evs, want) < 1 {
			t.Errorf("no %s event in %v", want, actions(evs))
		}
	}
}

func names(apps []backend.App) []string {
	return field(apps, func(a backend.App) string { return a.Name })
}

func testAppSecrets(t *testing.T, b backend.Backend) {
	c := ctx(t)
	k := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k"}))(t)
	app := must(b.CreateApp(c, backend.CreateAppRequest{Name: "web"}))(t)
	value := "s3cr3t-value-" + uuid.NewString()
	// Unbound: an opaque value. Bound with no value: filled by the backend.
	must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: "opaque", Value: &value}))(t)
	put := must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: "token", AccountID: k.ID}))(t)
	if put.AppID != app.ID || put.Name != "token" || put.AccountID != k.ID || !put.HasValue || put.AppName != "web" {
		t.Errorf("put: %+v", put)
	}
	got := must(b.GetAppSecret(c, app.ID, "token"))(t)
	if !got.HasValue || got.AccountID != k.ID {
		t.Errorf("get: %+v", got)
	}
	// A bound value must be the account's current secret.
	_, err := b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: "token", AccountID: k.ID, Value: &value})
	if be := wantError(t, err, backend.CodeStaleValue); be != nil && !strings.Contains(be.Message, "A bound secret needs no value") {
		t.Errorf("stale value message = %q", be.Message)
	}
	current := k.Secret
	must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: "token", AccountID: k.ID, Value: &current}))(t)
	// An unbound secret needs a value.
	_, err = b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: "nothing"})
	wantCode(t, err, backend.CodeInvalid)
	// No read returns the value.
	for what, v := range map[string]any{
		"put": put, "get": got,
		"app":      must(b.GetApp(c, app.ID))(t),
		"apps":     must(b.ListApps(c, backend.ListAppsRequest{}))(t),
		"accounts": must(b.ListAccounts(c, backend.ListAccountsRequest{}))(t),
		"audit":    must(b.ListAuditEvents(c, backend.AuditQuery{}))(t),
	} {
		raw, _ := json.Marshal(v)
		if strings.Contains(string(raw), value) || strings.Contains(string(raw), k.Secret) {
			t.Errorf("%s returned an app secret's value", what)
		}
	}
	acct := must(b.GetAccount(c, k.ID))(t)
	if !slices.Equal(acct.Apps, []string{"web"}) {
		t.Errorf("account apps = %v, want [web]", acct.Apps)
	}
	bound := must(b.ListApps(c, backend.ListAppsRequest{BoundToAccountID: k.ID}))(t)
	if len(bound) != 1 || bound[0].ID != app.ID {
		t.Errorf("bound_to_account_id: %v", names(bound))
	}

	// A put without a value keeps the stored one (binding only).
	rebound := must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: "token", AccountID: k.ID}))(t)
	if !rebound.HasValue {
		t.Error("a binding-only put dropped the value")
	}

	noErr(t, b.DeleteAppSecret(c, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "token"}))
	_, err = b.GetAppSecret(c, app.ID, "token")
	wantCode(t, err, backend.CodeNotFound)
	all := must(b.ListAuditEvents(c, backend.AuditQuery{}))(t)
	var put2, del int
	for _, e := range all {
		if e.TargetType == backend.TargetAppSecret && e.TargetName == "web/token" {
			switch e.Action {
			case backend.ActionAppSecretPut:
				put2++
			case backend.ActionAppSecretDelete:
				del++
			}
		}
	}
	if put2 != 1 || del != 1 {
		t.Errorf("app secret events for web/token: %d puts, %d deletes", put2, del)
	}
}

// testRotation is DESIGN.md's one-operation rotation: one call undeploys the
// bound apps meant to be deployed, regenerates, seals the new secret into
// every bound app secret and deploys the apps again. Not one failed login.
func testRotation(t *testing.T, b backend.Backend) {
	c := ctx(t)
	k := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k"}))(t)
	app := boundApp(t, b, "forwarder", k)
	second := boundApp(t, b, "second", k)
	idle := must(b.CreateApp(c, backend.CreateAppRequest{Name: "idle"}))(t)
	must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: idle.ID, Name: "k", AccountID: k.ID}))(t)
	other := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "neighbour"}))(t)
	neighbour := boundApp(t, b, "neighbour", other)
	seq := LastSeq(t, b)

	r := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: k.ID, ExpectedSecretVersion: 1, IdempotencyKey: uuid.NewString()}))(t)
	if r.SecretVersion != 2 || r.Locked || r.Secret == "" || r.ID != k.ID {
		t.Errorf("rotation returned %+v (secret shown %v)", r.Account, r.Secret != "")
	}
	for _, a := range []*backend.App{app, second, neighbour} {
		got := must(b.GetApp(c, a.ID))(t)
		if !got.Deployed || got.Status != backend.StatusRunning {
			t.Errorf("after the rotation %s: deployed %v, status %s", got.Name, got.Deployed, got.Status)
		}
	}
	if got := must(b.GetApp(c, idle.ID))(t); got.Deployed || got.Status != backend.StatusStopped {
		t.Errorf("the idle app was deployed: %+v", got)
	}
	all := must(b.ListAuditEvents(c, backend.AuditQuery{AfterSeq: seq}))(t)
	// For each app: undeploy < regenerate < put < deploy < its login.
	var regen int64
	for _, e := range all {
		if e.Action == backend.ActionAccountRegenerate {
			regen = e.Seq
		}
		if e.Action == backend.ActionLoginFailure || e.Action == backend.ActionAccountLock {
			t.Errorf("the rotation caused %s %s", e.Action, e.TargetName)
		}
		if e.TargetName == "neighbour" || strings.HasPrefix(e.TargetName, "neighbour/") {
			t.Errorf("the rotation touched the neighbour: %s", e.Action)
		}
	}
	for _, name := range []string{"forwarder", "second"} {
		at := map[string]int64{}
		for _, e := range all {
			switch {
			case e.TargetName == name && (e.Action == backend.ActionAppUndeploy || e.Action == backend.ActionAppDeploy):
				at[e.Action] = e.Seq
				if e.Action == backend.ActionAppDeploy && !strings.Contains(e.Detail, "downtime_ms=") {
					t.Errorf("%s deploy detail %q has no downtime_ms", name, e.Detail)
				}
			case e.TargetName == name+"/k" && e.Action == backend.ActionAppSecretPut:
				at[e.Action] = e.Seq
			case e.Actor == name && e.Action == backend.ActionLoginSuccess:
				at[e.Action] = e.Seq
			}
		}
		u, p, d, l := at[backend.ActionAppUndeploy], at[backend.ActionAppSecretPut], at[backend.ActionAppDeploy], at[backend.ActionLoginSuccess]
		if u == 0 || p == 0 || d == 0 || l == 0 || u >= regen || regen >= p || p >= d || d >= l {
			t.Errorf("%s: undeploy %d, regenerate %d, put %d, deploy %d, login %d: want them in that order", name, u, regen, p, d, l)
		}
	}
	// A saved plan applied after another rotation: refused, nothing changes.
	seq = LastSeq(t, b)
	_, err := b.RegenerateSecret(c, backend.RegenerateRequest{ID: k.ID, ExpectedSecretVersion: 1, IdempotencyKey: uuid.NewString()})
	if be := wantError(t, err, backend.CodeVersionMismatch); be != nil && !strings.Contains(be.Message, "plan again") {
		t.Errorf("message = %q", be.Message)
	}
	if evs := must(b.ListAuditEvents(c, backend.AuditQuery{AfterSeq: seq}))(t); len(evs) != 0 {
		t.Errorf("the refused rotation left events: %v", actions(evs))
	}
}

// testOverlapRotation: an account's rotation_strategy and overlap_period
// are kept and checked; its overlap rotation moves the deployed apps bound
// to it one at a time, in name order, never stopping them (the built-in
// App Host's apps log in with the pending secret), then makes the pending
// secret current and revokes the previous one.
func testOverlapRotation(t *testing.T, b backend.Backend) {
	c := ctx(t)
	k := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k", RotationStrategy: backend.StrategyOverlap, OverlapPeriod: "90s"}))(t)
	if k.RotationStrategy != backend.StrategyOverlap || k.OverlapPeriod != "1m30s" || k.PendingSecretVersion != 0 {
		t.Errorf("created %+v, want rotation_strategy overlap, overlap_period 1m30s, no pending secret", k.Account)
	}
	plain := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "plain"}))(t)
	if plain.RotationStrategy != backend.StrategyStopFirst || plain.OverlapPeriod != "15m0s" {
		t.Errorf("created with the defaults: %+v, want stop_first, 15m0s", plain.Account)
	}
	// An update that does not name them keeps them; one that does changes them.
	got := must(b.UpdateAccount(c, backend.UpdateAccountRequest{ID: k.ID, Name: "k", Description: "d"}))(t)
	if got.RotationStrategy != backend.StrategyOverlap || got.OverlapPeriod != "1m30s" {
		t.Errorf("after an update of the description: %+v", got)
	}
	got = must(b.UpdateAccount(c, backend.UpdateAccountRequest{ID: k.ID, Name: "k", Description: "d", OverlapPeriod: "2m"}))(t)
	if got.OverlapPeriod != "2m0s" {
		t.Errorf("after an update of overlap_period: %+v", got)
	}
	for field, req := range map[string]backend.UpdateAccountRequest{
		"rotation_strategy": {ID: k.ID, Name: "k", RotationStrategy: "sideways"},
		"overlap_period":    {ID: k.ID, Name: "k", OverlapPeriod: "0s"},
	} {
		_, err := b.UpdateAccount(c, req)
		if be := wantError(t, err, backend.CodeInvalid); be != nil && be.Field != field {
			t.Errorf("invalid %s: error on field %q: %v", field, be.Field, be)
		}
	}
	second := boundApp(t, b, "second", k)
	first := boundApp(t, b, "first", k) // created after: moves first all the same
	idle := must(b.CreateApp(c, backend.CreateAppRequest{Name: "idle"}))(t)
	must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: idle.ID, Name: "k", AccountID: k.ID}))(t)
	seq := LastSeq(t, b)

	r := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: k.ID, ExpectedSecretVersion: 1, IdempotencyKey: uuid.NewString()}))(t)
	if r.SecretVersion != 2 || r.Secret == "" || r.PendingSecretVersion != 0 || r.Rotation == nil ||
		r.Rotation.Strategy != backend.StrategyOverlap || r.Rotation.Outcome != backend.RotationDone || r.Rotation.ToVersion != 2 {
		t.Fatalf("overlap rotation returned %+v (secret shown %v), rotation %+v", r.Account, r.Secret != "", r.Rotation)
	}
	phases := map[string]string{}
	for _, st := range r.Rotation.Steps {
		phases[st.AppName] = st.Phase
		if st.DowntimeMS != nil {
			t.Errorf("step %s: downtime %v, want none (never stopped)", st.AppName, *st.DowntimeMS)
		}
	}
	if want := map[string]string{"first": backend.StepMoved, "second": backend.StepMoved, "idle": backend.StepSkipped}; !maps.Equal(phases, want) {
		t.Errorf("steps %v, want %v", phases, want)
	}
	for _, a := range []*backend.App{first, second} {
		if got := must(b.GetApp(c, a.ID))(t); !got.Deployed || got.Status != backend.StatusRunning || got.HeldBy != "" {
			t.Errorf("after the rotation %s: deployed %v, status %s, held by %q", got.Name, got.Deployed, got.Status, got.HeldBy)
		}
	}
	var order []string
	var regen, lastReload int64
	for _, e := range must(b.ListAuditEvents(c, backend.AuditQuery{AfterSeq: seq}))(t) {
		switch e.Action {
		case backend.ActionAppReload:
			order, lastReload = append(order, e.TargetName), e.Seq
		case backend.ActionAccountRegenerate:
			regen = e.Seq
		case backend.ActionAppUndeploy, backend.ActionAppDeploy, backend.ActionLoginFailure, backend.ActionAccountLock:
			t.Errorf("the overlap rotation caused %s %s", e.Action, e.TargetName)
		}
	}
	if !slices.Equal(order, []string{"first", "second"}) || regen < lastReload {
		t.Errorf("app.reload of %v, regenerate at %d after the last reload at %d: want first, second, then the regenerate", order, regen, lastReload)
	}
	noErr(t, b.Login(c, backend.LoginRequest{AccountID: k.ID, Secret: r.Secret}))
	wantCode(t, b.Login(c, backend.LoginRequest{AccountID: k.ID, Secret: k.Secret}), backend.CodeLoginFailed)
}

// testExposeSecret: with expose_secret = false no response carries the
// secret, a replay included, while bound apps still get it.
func testExposeSecret(t *testing.T, b backend.Backend) {
	c := ctx(t)
	no := false
	k := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "hidden", ExposeSecret: &no}))(t)
	if k.Secret != "" || k.ExposeSecret {
		t.Fatalf("create with expose_secret = false: %+v, secret shown %v", k.Account, k.Secret != "")
	}
	app := must(b.CreateApp(c, backend.CreateAppRequest{Name: "web", Deployed: true}))(t)
	must(b.PutAppSecret(c, backend.PutAppSecretRequest{AppID: app.ID, Name: "k", AccountID: k.ID}))(t)
	key := uuid.NewString()
	for range 2 {
		r := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: k.ID, IdempotencyKey: key}))(t)
		if r.Secret != "" || r.SecretVersion != 2 {
			t.Errorf("regenerate: version %d, secret shown %v", r.SecretVersion, r.Secret != "")
		}
	}
	if got := must(b.GetApp(c, app.ID))(t); got.Status != backend.StatusRunning {
		t.Errorf("app bound to a hidden key: %s", got.Status)
	}
	yes := true
	r := must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: k.ID, ExposeSecret: &yes, ExpectedSecretVersion: 2}))(t)
	if r.Secret == "" || !r.ExposeSecret {
		t.Errorf("turning expose_secret on shows no secret: %+v", r.Account)
	}
	noErr(t, b.Login(c, backend.LoginRequest{AccountID: k.ID, Secret: r.Secret}))
}

// testDeleteAccountInUse: a key with bound app secrets is not deleted.
func testDeleteAccountInUse(t *testing.T, b backend.Backend) {
	c := ctx(t)
	k := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k"}))(t)
	app := boundApp(t, b, "forwarder", k)
	be := wantError(t, b.DeleteAccount(c, backend.DeleteAccountRequest{ID: k.ID}), backend.CodeInUse)
	if be != nil && (!slices.Equal(be.Apps, []string{"forwarder"}) || !strings.Contains(be.Message, "forwarder")) {
		t.Errorf("refusal = %+v", be)
	}
	noErr(t, b.DeleteAppSecret(c, backend.DeleteAppSecretRequest{AppID: app.ID, Name: k.Name}))
	if got := must(b.GetApp(c, app.ID))(t); !got.Deployed || got.Status != backend.StatusRunning {
		t.Errorf("removing the app's secret left it %s", got.Status)
	}
	noErr(t, b.DeleteAccount(c, backend.DeleteAccountRequest{ID: k.ID}))
}

// testStaleSecretLocks: the wrong order still locks. A running app with a
// stale secret retries it until the account locks.
func testStaleSecretLocks(t *testing.T, tg Target) {
	if tg.PlantStale == nil {
		t.Skip("this backend cannot plant a stale secret")
	}
	b := tg.Backend
	c := ctx(t)
	k := must(b.CreateAccount(c, backend.CreateAccountRequest{Name: "k"}))(t)
	app := boundApp(t, b, "forwarder", k)
	tg.PlantStale(t, app.ID, k.Name, k.ID)
	must(b.UndeployApp(c, app.ID))(t)
	seq := LastSeq(t, b)
	must(b.DeployApp(c, app.ID))(t)

	acct := must(b.GetAccount(c, k.ID))(t)
	if !acct.Locked {
		t.Fatalf("a running app with a stale secret did not lock the account: %+v", acct)
	}
	evs := events(t, b, seq, k.ID)
	if n := Count(evs, backend.ActionLoginFailure); n < backend.DefaultLockoutThreshold {
		t.Errorf("want at least %d failed logins, got %d: %v", backend.DefaultLockoutThreshold, n, actions(evs))
	}
	if Count(evs, backend.ActionAccountLock) != 1 {
		t.Errorf("want one lock event: %v", actions(evs))
	}
	for _, e := range evs {
		if e.Action == backend.ActionLoginFailure && e.Actor != "forwarder" {
			t.Errorf("a failed login by the App Host has actor %q, want the app's name", e.Actor)
		}
	}
	if got := must(b.GetApp(c, app.ID))(t); got.Status != backend.StatusFailed {
		t.Errorf("app status %s, want %s", got.Status, backend.StatusFailed)
	}
	wantCode(t, b.Login(c, backend.LoginRequest{AccountID: k.ID, Secret: k.Secret}), backend.CodeLocked)
	// One rotation is the cure.
	must(b.RegenerateSecret(c, backend.RegenerateRequest{ID: k.ID, IdempotencyKey: uuid.NewString()}))(t)
	if got := must(b.GetApp(c, app.ID))(t); got.Status != backend.StatusRunning {
		t.Errorf("after the rotation: app %s", got.Status)
	}
}

func testAudit(t *testing.T, b backend.Backend) {
	c := ctx(t)
	start := LastSeq(t, b)
	for i := range 5 {
		must(b.CreateAccount(c, backend.CreateAccountRequest{Name: fmt.Sprintf("a%d", i)}))(t)
	}
	all := must(b.ListAuditEvents(c, backend.AuditQuery{AfterSeq: start}))(t)
	var creates []backend.AuditEvent
	for i, e := range all {
		if i > 0 && e.Seq <= all[i-1].Seq {
			t.Fatalf("seq not strictly increasing: %d after %d", e.Seq, all[i-1].Seq)
		}
		if e.Action == backend.ActionAccountCreate {
			creates = append(creates, e)
		}
	}
	if len(creates) != 5 {
		t.Fatalf("want 5 create events, got %d", len(creates))
	}
	for i, e := range creates {
		if e.TargetName != fmt.Sprintf("a%d", i) || e.TargetType != backend.TargetAccount || e.Time.IsZero() || e.Actor == "" {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	page := must(b.ListAuditEvents(c, backend.AuditQuery{AfterSeq: creates[1].Seq, Limit: 2}))(t)
	if len(page) != 2 || page[0].Seq <= creates[1].Seq {
		t.Errorf("a page after seq %d, limit 2: %d events", creates[1].Seq, len(page))
	}
}
