package core

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// Logins committed in one group are each checked and recorded on their own:
// every caller gets its own result and its own audit event, as its actor.
func TestConcurrentLoginsGroupCommit(t *testing.T) {
	e := newEnv(t, 0)
	a := e.account(t, "k")
	before := e.lastSeq(t)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx := WithActor(context.Background(), fmt.Sprintf("app%02d", i))
			secret := a.Secret
			if i%10 == 0 {
				secret = "wrong"
			}
			err := e.s.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: secret})
			if (err == nil) != (i%10 != 0) {
				t.Errorf("login %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	ev, err := e.s.ListAuditEvents(context.Background(), backend.AuditQuery{AfterSeq: before})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != n {
		t.Fatalf("%d audit events, want %d", len(ev), n)
	}
	actors := map[string]bool{}
	for i, x := range ev {
		if x.Seq != before+int64(i)+1 {
			t.Errorf("event %d has seq %d, want %d", i, x.Seq, before+int64(i)+1)
		}
		actors[x.Actor] = true
	}
	if len(actors) != n {
		t.Errorf("%d distinct actors, want %d", len(actors), n)
	}
}

// A group whose transaction fails runs each login again on its own: the
// failure of one login's step is that login's error only.
func TestLoginGroupFailureFallsBack(t *testing.T) {
	e := newEnv(t, 0)
	a := e.account(t, "k")
	e.st.mu.Lock()
	e.st.failAudit = backend.ActionLoginFailure
	e.st.mu.Unlock()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			secret := a.Secret
			if i%2 == 0 {
				secret = "wrong"
			}
			err := e.s.Login(context.Background(), backend.LoginRequest{AccountID: a.ID, Secret: secret})
			switch {
			case i%2 == 0 && backend.CodeOf(err) != backend.CodeInternal:
				t.Errorf("wrong login %d: %v, want an internal error", i, err)
			case i%2 == 1 && err != nil:
				t.Errorf("right login %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := e.getAccount(t, a.ID); got.FailedLoginAttempts != 0 || got.Locked {
		t.Errorf("failed = %d locked = %v: a rolled back failure was counted", got.FailedLoginAttempts, got.Locked)
	}
}
