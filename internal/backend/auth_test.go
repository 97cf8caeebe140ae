package backend

import (
	"context"
	"testing"
)

// TestAuthenticateAdmin: a right secret is a read (no event); a wrong one
// counts and locks at the threshold exactly as Login does; CheckSecret never
// writes, whatever the outcome.
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
	if _, err := e.s.CheckSecret(ctx, k.ID, "wrong"); CodeOf(err) != CodeLoginFailed {
		t.Fatalf("CheckSecret(wrong) = %v", err)
	}
	if _, err := e.s.CheckSecret(ctx, "00000000-0000-0000-0000-000000000000", "x"); CodeOf(err) != CodeLoginFailed {
		t.Fatalf("CheckSecret(unknown) = %v", err)
	}
	if got := e.actionsSince(t, seq); len(got) != 0 || e.getAccount(t, k.ID).FailedLoginAttempts != 0 {
		t.Fatalf("CheckSecret wrote %v", got)
	}

	// A failure counts; a success after it resets the count like Login.
	if _, err := e.s.AuthenticateAdmin(ctx, k.ID, "wrong"); CodeOf(err) != CodeLoginFailed {
		t.Fatalf("AuthenticateAdmin(wrong) = %v", err)
	}
	if n := e.getAccount(t, k.ID).FailedLoginAttempts; n != 1 {
		t.Fatalf("failed_login_attempts = %d, want 1", n)
	}
	if _, err := e.s.AuthenticateAdmin(ctx, k.ID, k.Secret); err != nil {
		t.Fatal(err)
	}
	if n := e.getAccount(t, k.ID).FailedLoginAttempts; n != 0 {
		t.Fatalf("failed_login_attempts = %d after a success, want 0", n)
	}

	// Failures lock at the threshold; then the right secret is refused, by
	// both paths.
	for range 3 {
		_, _ = e.s.AuthenticateAdmin(ctx, k.ID, "wrong")
	}
	if !e.getAccount(t, k.ID).Locked {
		t.Fatal("not locked at the threshold")
	}
	if _, err := e.s.AuthenticateAdmin(ctx, k.ID, k.Secret); CodeOf(err) != CodeLocked {
		t.Fatalf("AuthenticateAdmin(locked) = %v", err)
	}
	if _, err := e.s.CheckSecret(ctx, k.ID, k.Secret); CodeOf(err) != CodeLocked {
		t.Fatalf("CheckSecret(locked) = %v", err)
	}
}
