package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var errKilled = errors.New("driver killed")

// killAfter returns an AfterRotationStep hook that stops the driver, as if
// its process died, after its n-th committed step.
func killAfter(n int) func(string) error {
	steps := 0
	return func(string) error {
		steps++
		if steps == n {
			return errKilled
		}
		return nil
	}
}

// regenerateEvents counts the api_key_account.regenerate events of account id.
func (e *env) regenerateEvents(t *testing.T, id string) int {
	t.Helper()
	n := 0
	for _, ev := range e.events(t) {
		if ev.Action == backend.ActionAccountRegenerate && ev.TargetID == id {
			n++
		}
	}
	return n
}

func (e *env) rotations(t *testing.T, accountID string) []backend.Rotation {
	t.Helper()
	list, err := e.s.ListRotations(context.Background(), backend.ListRotationsRequest{AccountID: accountID})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// A driver that dies after any step leaves a rotation that the next driver
// takes over once the lease expired, and finishes: the key is rotated
// exactly once, the app runs with the new secret, and a retry of the first
// request returns that rotation's result.
func TestRotationKilledAtEachStepIsFinishedOnce(t *testing.T) {
	// Step 0 is the start (the driver dies before its first step); the
	// fourth step ends the rotation, so the last kill is after the third.
	for step := 0; step <= 3; step++ {
		t.Run(fmt.Sprintf("after step %d", step), func(t *testing.T) {
			e := newEnv(t, 0)
			ctx := context.Background()
			acc, app := deployedWithSecret(t, e)
			dying := NewService(e.st, e.box, Options{Now: e.clock.Now, Owner: "dying", AfterRotationStep: killAfter(step)})
			req := backend.RegenerateRequest{ID: acc.ID, ExpectedSecretVersion: 1, IdempotencyKey: "apply-1", TriggersHash: backend.TriggersHash(map[string]string{"q": "2"})}
			if step == 0 {
				if _, err := dying.StartRotation(ctx, req); err != nil {
					t.Fatal(err)
				}
			} else if _, err := dying.RegenerateSecret(ctx, req); !errors.Is(err, errKilled) {
				t.Fatalf("RegenerateSecret = %v, want the driver killed", err)
			}
			rots := e.rotations(t, acc.ID)
			if len(rots) != 1 || rots[0].Ended() || rots[0].Owner != "dying" {
				t.Fatalf("rotations after the kill = %+v", rots)
			}

			// Another driver does not take over while the lease runs: the
			// next apply's retry waits, then takes over once it expired.
			next := NewService(e.st, e.box, Options{Now: e.clock.Now, Owner: "next"})
			done := make(chan error, 1)
			var r *backend.AccountWithSecret
			go func() {
				var err error
				r, err = next.RegenerateSecret(ctx, req)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("the retry returned before the lease expired: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			e.clock.Advance(DefaultRotationLease + time.Second)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			e.secrets = append(e.secrets, r.Secret)
			if r.SecretVersion != 2 || r.Secret == "" || r.Rotation == nil || r.Rotation.Outcome != backend.RotationDone {
				t.Errorf("result = %+v", r)
			}
			if n := e.regenerateEvents(t, acc.ID); n != 1 {
				t.Errorf("%d regenerate events, want 1", n)
			}
			rots = e.rotations(t, acc.ID)
			if len(rots) != 1 || rots[0].Outcome != backend.RotationDone || rots[0].Owner != "next" || rots[0].ToVersion != 2 {
				t.Errorf("rotations = %+v", rots)
			}
			got := e.getApp(t, app.ID)
			if got.Status != backend.StatusRunning || got.HeldBy != "" {
				t.Errorf("app = %+v", got)
			}
			if err := e.s.Login(ctx, backend.LoginRequest{AccountID: acc.ID, Secret: r.Secret}); err != nil {
				t.Errorf("login with the new secret: %v", err)
			}
			takeovers := 0
			for _, ev := range e.events(t) {
				if ev.Action == backend.ActionRotationStep && ev.TargetID == rots[0].ID && ev.Actor == DefaultActor &&
					len(ev.Detail) > 10 && ev.Detail[:10] == "taken over" {
					takeovers++
				}
			}
			if takeovers != 1 {
				t.Errorf("%d takeover events, want 1", takeovers)
			}
		})
	}
}

// A write to an app that a rotation holds waits for the rotation's end.
func TestHeldAppWaitsForTheRotation(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	dying := NewService(e.st, e.box, Options{Now: e.clock.Now, Owner: "dying", AfterRotationStep: killAfter(2)})
	if _, err := dying.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID}); !errors.Is(err, errKilled) {
		t.Fatalf("RegenerateSecret = %v", err)
	}
	if got := e.getApp(t, app.ID); got.HeldBy == "" || got.Status != backend.StatusStopped {
		t.Fatalf("app while the rotation holds it = %+v", got)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.s.UpdateApp(ctx, backend.UpdateAppRequest{ID: app.ID, Name: app.Name, Version: "2", Deployed: true})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the update of a held app returned before the rotation ended: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	e.clock.Advance(DefaultRotationLease + time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := e.getApp(t, app.ID)
	if got.Version != "2" || got.Status != backend.StatusRunning || got.HeldBy != "" {
		t.Errorf("app = %+v", got)
	}
	acts := e.actionsSince(t, 0)
	end := slices.Index(acts, "terraform rotation.end siem-forwarder")
	update := slices.Index(acts, "terraform app.update forwarder")
	if end < 0 || update < end {
		t.Errorf("the update did not wait for the rotation's end: %q", acts)
	}
}

// The same Idempotency-Key with another request is refused and changes
// nothing; with the same request it replays.
func TestIdempotencyKeyReusedForAnotherRequest(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc := e.account(t, "k")
	first, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, IdempotencyKey: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, first.Secret)
	seq := e.lastSeq(t)
	hide := false
	_, err = e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, IdempotencyKey: "run-1", ExposeSecret: &hide})
	wantCode(t, err, backend.CodeIdempotencyMismatch)
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("a refused reuse changed something: %q", acts)
	}
	again, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, IdempotencyKey: "run-1"})
	if err != nil || again.Secret != first.Secret || again.SecretVersion != 2 {
		t.Errorf("replay = %v, %v", again, err)
	}
}

// The rotation records what it was for, and the steps it took.
func TestRotationRecordsReasonTriggersAndSteps(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	hash := backend.TriggersHash(map[string]string{"quarter": "2026-Q4"})
	r, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, Reason: "rotation_triggers changed", TriggersHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, r.Secret)
	rot := r.Rotation
	if rot == nil || rot.Reason != "rotation_triggers changed" || rot.TriggersHash != hash || rot.FromVersion != 1 || rot.ToVersion != 2 ||
		rot.Strategy != backend.StrategyStopFirst || rot.Outcome != backend.RotationDone || rot.EndedAt == nil {
		t.Fatalf("rotation = %+v", rot)
	}
	if len(rot.Steps) != 1 || rot.Steps[0].AppID != app.ID || rot.Steps[0].Phase != backend.StepRunning || rot.Steps[0].DowntimeMS == nil {
		t.Errorf("steps = %+v", rot.Steps)
	}
	got, err := e.s.GetRotation(ctx, rot.ID)
	if err != nil || got.Outcome != backend.RotationDone {
		t.Errorf("GetRotation = %+v, %v", got, err)
	}
	_, err = e.s.RotationResult(ctx, backend.RotationResultRequest{ID: rot.ID, IdempotencyKey: "guess"})
	wantCode(t, err, backend.CodeNotFound)
	_, err = e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: acc.ID, TriggersHash: "nothex"})
	wantCode(t, err, backend.CodeInvalid)
}

// An app with secret_names is not started until it has them all, and waits,
// pending, while one is missing.
func TestSecretNamesKeepAnAppPending(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc := e.account(t, "k")
	app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "web", Deployed: true, SecretNames: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	if app.Status != backend.StatusPending || app.StatusDetail == "" {
		t.Fatalf("new app = %+v", app)
	}
	seq := e.lastSeq(t)
	e.put(t, app.ID, "k", acc.ID, nil)
	if acts := e.actionsSince(t, seq); !slices.Equal(acts, []string{"terraform app_secret.put web/k", "terraform app.deploy web", "web login.success k"}) {
		t.Errorf("put of the needed secret = %q", acts)
	}
	seq = e.lastSeq(t)
	if err := e.s.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "k"}); err != nil {
		t.Fatal(err)
	}
	if got := e.getApp(t, app.ID); got.Status != backend.StatusPending {
		t.Errorf("app without its secret = %+v", got)
	}
	for _, a := range e.actionsSince(t, seq) {
		if a == "terraform app.deploy web" {
			t.Errorf("the app was started without its secret: %q", e.actionsSince(t, seq))
		}
	}
}
