package core

import (
	"context"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// TestAuthenticateAdmin: a right secret is a read (no event); a wrong one is
// a network login, audited and never counted; CheckSecret never writes,
// whatever the outcome.
func TestAuthenticateAdmin(t *testing.T) {
	e := newEnv(t, 3)
	ctx := context.Background()
	k := e.account(t, "admin-ish")

	seq := e.lastSeq(t)
	for range 5 {
		a, err := e.s.AuthenticateAdmin(ctx, k.ID, k.Secret)
		if err != nil || a.ID != k.ID {
			t.Fatalf("AuthenticateAdmin = %v, %v", a, err)
		}
	}
	if got := e.actionsSince(t, seq); len(got) != 0 {
		t.Fatalf("successful authentications wrote %v", got)
	}

	// CheckSecret with a wrong secret, or an unknown ID: refused, nothing written.
	if _, err := e.s.CheckSecret(ctx, k.ID, "wrong"); backend.CodeOf(err) != backend.CodeLoginFailed {
		t.Fatalf("CheckSecret(wrong) = %v", err)
	}
	if _, err := e.s.CheckSecret(ctx, "00000000-0000-0000-0000-000000000000", "x"); backend.CodeOf(err) != backend.CodeLoginFailed {
		t.Fatalf("CheckSecret(unknown) = %v", err)
	}
	if got := e.actionsSince(t, seq); len(got) != 0 || e.getAccount(t, k.ID).FailedLoginAttempts != 0 {
		t.Fatalf("CheckSecret wrote %v", got)
	}

	// A failure is a network login: audited, never counted. A success after
	// counted failures (the login command's) resets the count like Login.
	if _, err := e.s.AuthenticateAdmin(ctx, k.ID, "wrong"); backend.CodeOf(err) != backend.CodeLoginFailed {
		t.Fatalf("AuthenticateAdmin(wrong) = %v", err)
	}
	if n := e.getAccount(t, k.ID).FailedLoginAttempts; n != 0 {
		t.Fatalf("failed_login_attempts = %d after a network failure, want 0", n)
	}
	if got := e.actionsSince(t, seq); len(got) != 1 || !strings.Contains(got[0], backend.ActionLoginFailure) {
		t.Fatalf("a failed AuthenticateAdmin wrote %v, want one login.failure", got)
	}
	_ = e.s.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: "wrong"})
	if n := e.getAccount(t, k.ID).FailedLoginAttempts; n != 1 {
		t.Fatalf("failed_login_attempts = %d after a counted failure, want 1", n)
	}
	if _, err := e.s.AuthenticateAdmin(ctx, k.ID, k.Secret); err != nil {
		t.Fatal(err)
	}
	if n := e.getAccount(t, k.ID).FailedLoginAttempts; n != 0 {
		t.Fatalf("failed_login_attempts = %d after a success, want 0", n)
	}

	// Network failures never lock; counted ones lock at the threshold, and
	// then the right secret is refused, by both paths.
	for range 10 {
		_, _ = e.s.AuthenticateAdmin(ctx, k.ID, "wrong")
	}
	if e.getAccount(t, k.ID).Locked {
		t.Fatal("network failures locked the account")
	}
	for range 3 {
		_ = e.s.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: "wrong"})
	}
	if !e.getAccount(t, k.ID).Locked {
		t.Fatal("not locked at the threshold")
	}
	if _, err := e.s.AuthenticateAdmin(ctx, k.ID, k.Secret); backend.CodeOf(err) != backend.CodeLocked {
		t.Fatalf("AuthenticateAdmin(locked) = %v", err)
	}
	if _, err := e.s.CheckSecret(ctx, k.ID, k.Secret); backend.CodeOf(err) != backend.CodeLocked {
		t.Fatalf("CheckSecret(locked) = %v", err)
	}
}
