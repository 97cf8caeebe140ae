package core

import (
	"context"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// TestLastAdminCannotBeDeleted: the only admin account cannot go; with a
// second one, either can.
func TestLastAdminCannotBeDeleted(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	a1, err := e.s.CreateAdminAccount(ctx, "11111111-1111-1111-1111-111111111111", "admin", "admin-secret-value-of-32-characters-1")
	if err != nil {
		t.Fatal(err)
	}
	err = e.s.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: a1.ID})
	wantCode(t, err, backend.CodeConflict)
	if err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Fatalf("DeleteAccount(last admin) = %v", err)
	}
	a2, err := e.s.CreateAdminAccount(ctx, "22222222-2222-2222-2222-222222222222", "admin2", "admin-secret-value-of-32-characters-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: a1.ID}); err != nil {
		t.Fatalf("DeleteAccount with another admin left: %v", err)
	}
	wantCode(t, e.s.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: a2.ID}), backend.CodeConflict)
}

// TestRecoverAdmin: regenerates and unlocks the oldest admin (or the one
// named), creates one when none is left, unlocks only when asked; each is
// audited as recover-admin.
func TestRecoverAdmin(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()

	// No admin: one is created.
	_, err := e.s.RecoverAdmin(ctx, "", true)
	wantCode(t, err, backend.CodeNotFound)
	res, err := e.s.RecoverAdmin(ctx, "", false)
	if err != nil || !res.Created || res.Secret == "" || !res.Account.Admin {
		t.Fatalf("RecoverAdmin on a store without admin = %+v, %v", res, err)
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: res.Account.ID, Secret: res.Secret}); err != nil {
		t.Fatalf("login with the recovered secret: %v", err)
	}
	first := res.Account

	// Locked: regenerated and unlocked.
	for range 2 {
		_ = e.s.Login(ctx, backend.LoginRequest{AccountID: first.ID, Secret: "wrong"})
	}
	if !e.getAccount(t, first.ID).Locked {
		t.Fatal("not locked")
	}
	res, err = e.s.RecoverAdmin(ctx, "", false)
	if err != nil || res.Created || res.Account.ID != first.ID || res.Account.SecretVersion != 2 {
		t.Fatalf("RecoverAdmin = %+v, %v", res, err)
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: first.ID, Secret: res.Secret}); err != nil {
		t.Fatalf("login after recovery: %v", err)
	}
	evs := e.events(t)
	var regen *backend.AuditEvent
	for i := range evs {
		if evs[i].Action == backend.ActionAccountRegenerate {
			regen = &evs[i]
		}
	}
	if regen == nil || regen.Actor != ActorRecoverAdmin || regen.TargetID != first.ID {
		t.Fatalf("regenerate event %+v, want one by %s", regen, ActorRecoverAdmin)
	}
	if evs[0].Action != backend.ActionAccountCreate || evs[0].Actor != ActorRecoverAdmin {
		t.Errorf("create event %+v, want one by %s", evs[0], ActorRecoverAdmin)
	}

	// Unlock only: same secret, unlocked.
	for range 2 {
		_ = e.s.Login(ctx, backend.LoginRequest{AccountID: first.ID, Secret: "wrong"})
	}
	u, err := e.s.RecoverAdmin(ctx, first.ID, true)
	if err != nil || u.Secret != "" || u.Account.Locked || u.Account.SecretVersion != 2 {
		t.Fatalf("RecoverAdmin(unlock only) = %+v, %v", u, err)
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: first.ID, Secret: res.Secret}); err != nil {
		t.Fatalf("login after unlock: %v", err)
	}

	// A non-admin or unknown ID is refused.
	k, err := e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "app-key"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.RecoverAdmin(ctx, k.ID, false)
	wantCode(t, err, backend.CodeInvalid)
	_, err = e.s.RecoverAdmin(ctx, "33333333-3333-3333-3333-333333333333", false)
	wantCode(t, err, backend.CodeNotFound)
}

// TestNetworkLoginNeverCounts: a network login's failures are audited and
// never counted; a locked account still refuses the right secret; Login
// (the runtime's and the login command's) still locks.
func TestNetworkLoginNeverCounts(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	k, err := e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		wantCode(t, e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: k.ID, Secret: "wrong"}), backend.CodeLoginFailed)
	}
	if a := e.getAccount(t, k.ID); a.Locked || a.FailedLoginAttempts != 0 {
		t.Fatalf("after 10 network failures: locked %v, failed_login_attempts %d", a.Locked, a.FailedLoginAttempts)
	}
	for range 2 {
		_ = e.s.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: "wrong"})
	}
	if !e.getAccount(t, k.ID).Locked {
		t.Fatal("counted logins did not lock")
	}
	wantCode(t, e.s.NetworkLogin(ctx, backend.LoginRequest{AccountID: k.ID, Secret: k.Secret}), backend.CodeLocked)
}

// TestBadBytesAreRefusedBeforeTheStore: NUL bytes and invalid UTF-8 are a
// login failure, a not-found or an invalid field, never a store error.
func TestBadBytesAreRefusedBeforeTheStore(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	wantCode(t, e.s.Login(ctx, backend.LoginRequest{AccountID: "a\x00b", Secret: "x"}), backend.CodeLoginFailed)
	wantCode(t, e.s.Login(ctx, backend.LoginRequest{AccountID: "a\xffb", Secret: "x"}), backend.CodeLoginFailed)
	_, err := e.s.GetAccount(ctx, "ab\x00cd")
	wantCode(t, err, backend.CodeNotFound)
	_, err = e.s.GetAccountByName(ctx, "ab\x00cd")
	wantCode(t, err, backend.CodeNotFound)
	_, err = e.s.GetApp(ctx, "ab\x00cd")
	wantCode(t, err, backend.CodeNotFound)
	_, err = e.s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k", Description: "nul\x00here"})
	wantCode(t, err, backend.CodeInvalid)
	_, err = e.s.CheckSecret(ctx, "a\x00b", "x")
	wantCode(t, err, backend.CodeLoginFailed)
}

// TestLastAdminCannotLoseItsSecret: regenerating the only admin account with
// expose_secret = false would leave nobody with its new secret: refused like
// its deletion, changing nothing; with another admin left it goes through.
func TestLastAdminCannotLoseItsSecret(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	a1, err := e.s.CreateAdminAccount(ctx, "11111111-1111-1111-1111-111111111111", "admin", "admin-secret-value-of-32-characters-1")
	if err != nil {
		t.Fatal(err)
	}
	hide := false
	_, err = e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a1.ID, ExposeSecret: &hide})
	wantCode(t, err, backend.CodeConflict)
	if err == nil || !strings.Contains(err.Error(), "last admin") || !strings.Contains(err.Error(), "expose_secret = true") {
		t.Fatalf("RegenerateSecret(last admin, expose_secret=false) = %v", err)
	}
	if a := e.getAccount(t, a1.ID); a.SecretVersion != 1 || !a.ExposeSecret {
		t.Errorf("the refused regenerate changed the admin: %+v", a)
	}
	if err := e.s.Login(ctx, backend.LoginRequest{AccountID: a1.ID, Secret: "admin-secret-value-of-32-characters-1"}); err != nil {
		t.Errorf("the admin's secret after the refused regenerate: %v", err)
	}
	if _, err := e.s.CreateAdminAccount(ctx, "22222222-2222-2222-2222-222222222222", "admin2", "admin-secret-value-of-32-characters-2"); err != nil {
		t.Fatal(err)
	}
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a1.ID, ExposeSecret: &hide})
	if err != nil || r.Secret != "" {
		t.Fatalf("RegenerateSecret(admin, expose_secret=false) with another admin left = %+v, %v", r, err)
	}
}
