package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

func TestMapError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("x: %w", store.ErrUnavailable), backend.CodeUnavailable},
		{fmt.Errorf("x: %w", store.ErrSchemaNewer), backend.CodeSchemaNewer},
		{fmt.Errorf("x: %w", store.ErrConflict), backend.CodeConflict},
		{secretbox.ErrWrongKey, backend.CodeKeyFile},
		{errors.New("boom"), backend.CodeInternal},
		{backend.Errorf(backend.CodeNotFound, "x"), backend.CodeNotFound},
	} {
		got := mapError(tc.err)
		if backend.CodeOf(got) != tc.code || !errors.Is(got, tc.err) {
			t.Errorf("mapError(%v) = %v (%s), want %s wrapping it", tc.err, got, backend.CodeOf(got), tc.code)
		}
	}
	if mapError(nil) != nil {
		t.Error("mapError(nil) != nil")
	}
}

// Concurrent failed logins are counted exactly, and lock exactly once.
func TestConcurrentLoginsCountExactly(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	a := e.account(t, "k")
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: "wrong"})
			if c := backend.CodeOf(err); c != backend.CodeLoginFailed && c != backend.CodeLocked {
				t.Errorf("login: %v", err)
			}
		})
	}
	wg.Wait()
	got := e.getAccount(t, a.ID)
	if got.FailedLoginAttempts != n || !got.Locked {
		t.Errorf("failed = %d locked = %v, want %d and locked", got.FailedLoginAttempts, got.Locked, n)
	}
	locks := 0
	for _, x := range e.events(t) {
		if x.Action == backend.ActionAccountLock {
			locks++
		}
	}
	if locks != 1 {
		t.Errorf("%d lock events, want 1", locks)
	}
}
