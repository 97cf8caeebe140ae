package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

func TestCreateAccountSecretAndStorage(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	a := e.account(t, "siem-forwarder")
	if a.SecretVersion != 1 || a.Locked || a.FailedLoginAttempts != 0 || a.Admin {
		t.Errorf("new account = %+v", a.Account)
	}
	if !strings.HasPrefix(a.Secret, "ahk_") {
		t.Errorf("secret %q lacks the ahk_ prefix", a.Secret)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a.Secret, "ahk_"))
	if err != nil || len(raw) != 32 {
		t.Errorf("secret is not 256 bits of base64url: %d bytes, %v", len(raw), err)
	}
	if a.Apps == nil {
		t.Error("Apps is nil, want empty")
	}
	if !a.SecretCreatedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("secret_created_at = %v", a.SecretCreatedAt)
	}

	// Only the SHA-256 is stored.
	err = e.st.Read(ctx, func(tx store.Tx) error {
		row, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(a.Secret))
		if string(row.SecretHash) != string(sum[:]) {
			t.Error("stored hash is not the SHA-256 of the secret")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Reads return what create returned, minus the secret.
	got := e.getAccount(t, a.ID)
	if fmt.Sprint(*got) != fmt.Sprint(a.Account) {
		t.Errorf("GetAccount = %+v\nwant %+v", *got, a.Account)
	}
	byName, err := e.s.GetAccountByName(ctx, "siem-forwarder")
	if err != nil || byName.ID != a.ID {
		t.Errorf("GetAccountByName = %v, %v", byName, err)
	}

	ev := e.events(t)
	if len(ev) != 1 || ev[0].Action != backend.ActionAccountCreate || ev[0].TargetType != backend.TargetAccount ||
		ev[0].TargetID != a.ID || ev[0].TargetName != "siem-forwarder" || ev[0].Actor != DefaultActor ||
		ev[0].Detail != "secret_version=1" || ev[0].Seq != 1 {
		t.Errorf("audit = %+v", ev)
	}
}

func TestCreateAccountConflictAndValidation(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	e.account(t, "a")
	_, err := e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "a"})
	wantCode(t, err, backend.CodeConflict)
	if err.Error() != `an API key account named "a" already exists` {
		t.Errorf("message = %q", err)
	}

	for _, tc := range []struct {
		req   backend.CreateAccountRequest
		field string
		msg   string
	}{
		{backend.CreateAccountRequest{Name: ""}, "name", "must not be empty"},
		{backend.CreateAccountRequest{Name: "-x"}, "name", "must start with a letter or digit"},
		{backend.CreateAccountRequest{Name: "a b"}, "name", "letters, digits, '.', '_' and '-'"},
		{backend.CreateAccountRequest{Name: strings.Repeat("x", backend.MaxNameLength+1)}, "name", "the limit is 128"},
		{backend.CreateAccountRequest{Name: "ok", Description: strings.Repeat("d", backend.MaxDescriptionLength+1)}, "description", "the limit is 1024"},
	} {
		_, err := e.s.CreateAccount(ctx, tc.req)
		wantCode(t, err, backend.CodeInvalid)
		var be *backend.Error
		if !asError(err, &be) || be.Field != tc.field || !strings.Contains(be.Message, tc.msg) {
			t.Errorf("%+v: err = %v (field %q), want field %q and %q", tc.req, err, be.Field, tc.field, tc.msg)
		}
	}
	if n := len(e.events(t)); n != 1 {
		t.Errorf("%d audit events after failed creates, want 1", n)
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	id := "3f0c1b8e-0000-4000-8000-000000000000"
	_, err := e.s.GetAccount(ctx, id)
	wantCode(t, err, backend.CodeNotFound)
	if !strings.Contains(err.Error(), "API key account") || !strings.Contains(err.Error(), id) {
		t.Errorf("message = %q", err)
	}
	_, err = e.s.UpdateAccount(ctx, backend.UpdateAccountRequest{ID: id, Name: "x"})
	wantCode(t, err, backend.CodeNotFound)
	_, err = e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: id})
	wantCode(t, err, backend.CodeNotFound)
	wantCode(t, e.s.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: id}), backend.CodeNotFound)
	_, err = e.s.GetAccountByName(ctx, "nobody")
	wantCode(t, err, backend.CodeNotFound)

	_, err = e.s.GetApp(ctx, id)
	wantCode(t, err, backend.CodeNotFound)
	if !strings.Contains(err.Error(), "app") || !strings.Contains(err.Error(), id) {
		t.Errorf("message = %q", err)
	}
	_, err = e.s.DeployApp(ctx, id)
	wantCode(t, err, backend.CodeNotFound)
	_, err = e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: id, Name: "s", Value: ptr("v")})
	wantCode(t, err, backend.CodeNotFound)
	if !strings.Contains(err.Error(), id) {
		t.Errorf("message does not name the app: %q", err)
	}

	app := e.app(t, "app", false)
	_, err = e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "s", AccountID: id})
	wantCode(t, err, backend.CodeNotFound)
	if !strings.Contains(err.Error(), "API key account") {
		t.Errorf("message = %q", err)
	}
	_, err = e.s.GetAppSecret(ctx, app.ID, "s")
	wantCode(t, err, backend.CodeNotFound)
	wantCode(t, e.s.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "s"}), backend.CodeNotFound)
}

func TestUpdateAccount(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	a := e.account(t, "a")
	e.account(t, "b")
	e.clock.Advance(time.Minute)

	_, err := e.s.UpdateAccount(ctx, backend.UpdateAccountRequest{ID: a.ID, Name: "b"})
	wantCode(t, err, backend.CodeConflict)

	seq := e.lastSeq(t)
	got, err := e.s.UpdateAccount(ctx, backend.UpdateAccountRequest{ID: a.ID, Name: "a2", Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "a2" || got.Description != "d" || got.SecretVersion != 1 || !got.SecretCreatedAt.Equal(a.SecretCreatedAt) {
		t.Errorf("updated = %+v", got)
	}
	e.wantActions(t, seq, "terraform api_key_account.update a2")
	// No change, no event.
	if _, err := e.s.UpdateAccount(ctx, backend.UpdateAccountRequest{ID: a.ID, Name: "a2", Description: "d"}); err != nil {
		t.Fatal(err)
	}
	if acts := e.actionsSince(t, seq); len(acts) != 1 {
		t.Errorf("a no-op update was audited: %q", acts)
	}
}

func TestLoginLockoutAtThreshold(t *testing.T) {
	e := newEnv(t, 3)
	ctx := WithActor(context.Background(), "admin")
	a := e.account(t, "k")

	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret}); err != nil {
		t.Fatalf("login with the right secret: %v", err)
	}
	for i := 1; i <= 2; i++ {
		err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: "ahk_wrong"})
		wantCode(t, err, backend.CodeLoginFailed)
		if err.Error() != "wrong API key ID or secret" {
			t.Errorf("message = %q", err)
		}
		if got := e.getAccount(t, a.ID); got.FailedLoginAttempts != int64(i) || got.Locked {
			t.Errorf("after %d failures: failed=%d locked=%v", i, got.FailedLoginAttempts, got.Locked)
		}
	}
	// The third failure reaches the threshold and locks.
	wantCode(t, e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: "ahk_wrong"}), backend.CodeLocked)
	got := e.getAccount(t, a.ID)
	if !got.Locked || got.FailedLoginAttempts != 3 {
		t.Errorf("at threshold: %+v", got)
	}
	// Locked rejects even the right secret, and counts it.
	err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret})
	wantCode(t, err, backend.CodeLocked)
	if got := e.getAccount(t, a.ID); got.FailedLoginAttempts != 4 {
		t.Errorf("failed = %d, want 4", got.FailedLoginAttempts)
	}

	acts := e.actionsSince(t, 1)
	want := []string{
		"admin login.success k",
		"admin login.failure k",
		"admin login.failure k",
		"admin login.failure k",
		"admin api_key_account.lock k",
		"admin login.failure k",
	}
	if !slices.Equal(acts, want) {
		t.Errorf("audit =\n%s\nwant\n%s", strings.Join(acts, "\n"), strings.Join(want, "\n"))
	}
	ev := e.events(t)
	if d := ev[len(ev)-1].Detail; !strings.Contains(d, "account locked") {
		t.Errorf("detail of a login to a locked account = %q", d)
	}
	if d := ev[2].Detail; !strings.Contains(d, "wrong secret") {
		t.Errorf("detail of a wrong secret = %q", d)
	}
}

func TestLoginUnknownIDSameMessage(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	err := e.s.Login(ctx, backend.LoginRequest{AccountID: "3f0c1b8e-0000-4000-8000-000000000000", Secret: "x"})
	wantCode(t, err, backend.CodeLoginFailed)
	if err.Error() != "wrong API key ID or secret" {
		t.Errorf("message = %q", err)
	}
	// A secret typed into the ID field is not written to the audit log.
	e.secrets = append(e.secrets, "ahk_pasted-in-the-wrong-field")
	wantCode(t, e.s.Login(ctx, backend.LoginRequest{AccountID: "ahk_pasted-in-the-wrong-field", Secret: "x"}), backend.CodeLoginFailed)
	ev := e.events(t)
	if len(ev) != 2 || ev[0].Action != backend.ActionLoginFailure || ev[0].TargetID != "3f0c1b8e-0000-4000-8000-000000000000" {
		t.Errorf("audit = %+v", ev)
	}
}

func TestLoginSuccessResetsFailures(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	a := e.account(t, "k")
	for range 4 {
		_ = e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: "nope"})
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret}); err != nil {
		t.Fatal(err)
	}
	if got := e.getAccount(t, a.ID); got.FailedLoginAttempts != 0 || got.Locked {
		t.Errorf("after success: %+v", got)
	}
}

func TestRegenerateUnlocks(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	a := e.account(t, "k")
	for range 2 {
		_ = e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: "nope"})
	}
	if !e.getAccount(t, a.ID).Locked {
		t.Fatal("not locked")
	}
	e.clock.Advance(time.Hour)
	seq := e.lastSeq(t)
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	if r.ID != a.ID || r.SecretVersion != 2 || r.Locked || r.FailedLoginAttempts != 0 || r.Secret == a.Secret {
		t.Errorf("regenerated = %+v", r.Account)
	}
	if !r.SecretCreatedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("secret_created_at = %v", r.SecretCreatedAt)
	}
	var regenerated []backend.AuditEvent
	for _, ev := range e.events(t) {
		if ev.Seq > seq && ev.Action == backend.ActionAccountRegenerate {
			regenerated = append(regenerated, ev)
		}
	}
	if len(regenerated) != 1 || regenerated[0].Detail != "secret_version=2, apps=0" {
		t.Errorf("regenerate events = %+v", regenerated)
	}
	wantCode(t, e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: a.Secret}), backend.CodeLoginFailed)
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: r.Secret}); err != nil {
		t.Errorf("new secret: %v", err)
	}
}

func TestRegenerateIdempotent(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	a := e.account(t, "k")
	first, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a.ID, IdempotencyKey: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, first.Secret)
	e.clock.Advance(time.Hour)
	again, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a.ID, IdempotencyKey: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Secret != first.Secret || again.SecretVersion != 2 {
		t.Errorf("retry = version %d, same secret %v", again.SecretVersion, again.Secret == first.Secret)
	}
	if got := e.getAccount(t, a.ID); got.SecretVersion != 2 {
		t.Errorf("stored version = %d, want 2", got.SecretVersion)
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: again.Secret}); err != nil {
		t.Errorf("replayed secret does not log in: %v", err)
	}

	// Another key regenerates.
	other, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a.ID, IdempotencyKey: "run-2"})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, other.Secret)
	if other.SecretVersion != 3 || other.Secret == first.Secret {
		t.Errorf("other key = version %d", other.SecretVersion)
	}

	// Past the window the key is forgotten.
	e.clock.Advance(backend.IdempotencyWindow + time.Minute)
	late, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a.ID, IdempotencyKey: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, late.Secret)
	if late.SecretVersion != 4 || late.Secret == first.Secret {
		t.Errorf("after the window = version %d", late.SecretVersion)
	}
	var regens int
	for _, x := range e.events(t) {
		if x.Action == backend.ActionAccountRegenerate {
			regens++
		}
	}
	if regens != 3 {
		t.Errorf("%d regenerate events, want 3", regens)
	}
}

func TestAdminAccount(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	has, err := e.s.HasAdminAccount(ctx)
	if err != nil || has {
		t.Fatalf("HasAdminAccount = %v, %v", has, err)
	}
	e.account(t, "user")
	if has, _ := e.s.HasAdminAccount(ctx); has {
		t.Error("a plain account counts as admin")
	}
	e.secrets = append(e.secrets, "admin-secret-value-of-32-characters")
	a, err := e.s.CreateAdminAccount(ctx, adminID, "admin", "admin-secret-value-of-32-characters")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Admin || a.ID != adminID || a.SecretVersion != 1 {
		t.Errorf("admin = %+v", a)
	}
	if has, _ := e.s.HasAdminAccount(ctx); !has {
		t.Error("HasAdminAccount = false")
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: adminID, Secret: "admin-secret-value-of-32-characters"}); err != nil {
		t.Error(err)
	}
	_, err = e.s.CreateAdminAccount(ctx, adminID, "admin2", "another-admin-secret-of-32-characters")
	wantCode(t, err, backend.CodeConflict)
	_, err = e.s.CreateAdminAccount(ctx, "44444444-4444-4444-4444-444444444444", "admin4", "7391")
	wantCode(t, err, backend.CodeInvalid)
	_, err = e.s.CreateAdminAccount(ctx, "", "admin3", "admin-secret-value-of-32-characters")
	wantCode(t, err, backend.CodeInvalid)
	_, err = e.s.CreateAdminAccount(ctx, "33333333-3333-3333-3333-333333333333", "admin3", "")
	wantCode(t, err, backend.CodeInvalid)
	// An ID no login accepts, and secrets that are long but not random.
	_, err = e.s.CreateAdminAccount(ctx, "admin-id", "admin5", "admin-secret-value-of-32-characters")
	wantCode(t, err, backend.CodeInvalid)
	for _, weak := range []string{strings.Repeat(" ", 32), strings.Repeat("ab", 40), strings.Repeat("abcdefg", 5)} {
		_, err = e.s.CreateAdminAccount(ctx, "55555555-5555-5555-5555-555555555555", "admin6", weak)
		wantCode(t, err, backend.CodeInvalid)
	}
}

// adminID is the ID of the admin account the tests create.
const adminID = "00000000-0000-4000-8000-00000000ad01"

func TestListAccountsFilterAndQueryCount(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	var ids []string
	for i := range 10 {
		ids = append(ids, e.account(t, fmt.Sprintf("acc-%02d", i)).ID)
	}
	_ = e.s.Login(ctx, backend.LoginRequest{AccountID: ids[3], Secret: "nope"}) // locks at threshold 1
	for i := range 5 {
		app := e.app(t, fmt.Sprintf("app-%d", 4-i), false)
		e.put(t, app.ID, "s1", ids[0], nil)
		e.put(t, app.ID, "s2", "", ptr("stored-value-1234"))
	}

	e.st.resetCount()
	all, err := e.s.ListAccounts(ctx, backend.ListAccountsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.st.resetCount(); n != 2 {
		t.Errorf("ListAccounts made %d queries, want 2", n)
	}
	if len(all) != 10 || all[0].Name != "acc-00" {
		t.Fatalf("list = %d accounts", len(all))
	}
	if want := []string{"app-0", "app-1", "app-2", "app-3", "app-4"}; !slices.Equal(all[0].Apps, want) {
		t.Errorf("apps = %q, want %q (sorted, unique)", all[0].Apps, want)
	}
	if all[1].Apps == nil || len(all[1].Apps) != 0 {
		t.Errorf("unbound account apps = %#v, want empty", all[1].Apps)
	}
	locked := true
	ls, err := e.s.ListAccounts(ctx, backend.ListAccountsRequest{Locked: &locked})
	if err != nil || len(ls) != 1 || ls[0].ID != ids[3] {
		t.Errorf("locked filter = %v, %v", ls, err)
	}

	e.st.resetCount()
	apps, err := e.s.ListApps(ctx, backend.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.st.resetCount(); n != 2 {
		t.Errorf("ListApps made %d queries, want 2", n)
	}
	if len(apps) != 5 || apps[0].Name != "app-0" || len(apps[0].Secrets) != 2 || apps[0].Secrets[0].Name != "s1" {
		t.Errorf("apps = %+v", apps)
	}
}

func asError(err error, target **backend.Error) bool {
	e, ok := err.(*backend.Error)
	if ok {
		*target = e
	} else {
		*target = &backend.Error{}
	}
	return ok
}
