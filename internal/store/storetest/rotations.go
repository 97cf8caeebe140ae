package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// NewRotation returns an active rotation of account a, created at created.
func NewRotation(a store.AccountRow, created time.Time) store.RotationRow {
	return store.RotationRow{
		ID: uuid.NewString(), AccountID: a.ID, AccountName: a.Name, Strategy: "stop_first",
		Reason: "rotation_triggers changed", TriggersHash: "h1", IdempotencyKey: "k-" + uuid.NewString(),
		RequestHash: "r1", FromVersion: a.SecretVersion, State: "preparing", Owner: "o1",
		LeaseUntil: created.Add(time.Minute), Rev: 1, CreatedAt: created, UpdatedAt: created,
	}
}

func testRotations(t *testing.T, s store.Store) {
	ctx := context.Background()
	k, other := NewAccount("k"), NewAccount("other")
	t0 := now().Add(-48 * time.Hour)
	old := NewRotation(k, t0)
	old.State, old.Outcome, old.ToVersion, old.EndedAt = "done", "done", 2, t0.Add(time.Second)
	old.SealedResult = []byte("sealed-1")
	expose := false
	old.ExposeSecret = &expose
	old.Steps = []store.RotationStepRow{{
		AppID: "a1", AppName: "app1", AppHost: "default", Phase: "running",
		Stopped: t0, Started: t0.Add(time.Millisecond), Running: t0.Add(2 * time.Millisecond), Detail: "ok",
		Back: t0.Add(3 * time.Millisecond), KeptStopped: true,
	}}
	old.Strategy, old.OverlapUntil = "overlap", t0.Add(15*time.Minute)
	active := NewRotation(k, now())
	elsewhere := NewRotation(other, now().Add(time.Second))
	write(t, s, func(tx store.Tx) error {
		for _, a := range []store.AccountRow{k, other} {
			if err := tx.InsertAccount(ctx, a); err != nil {
				return err
			}
		}
		for _, r := range []store.RotationRow{old, active, elsewhere} {
			if err := tx.InsertRotation(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetRotation(ctx, old.ID)
		equal(t, "GetRotation", got, old)
		_, err2 := tx.GetRotation(ctx, "nope")
		wantErr(t, "GetRotation unknown", err2, store.ErrNotFound)
		if err != nil {
			return err
		}
		list, err := tx.ListRotations(ctx, store.RotationFilter{})
		if err != nil {
			return err
		}
		equal(t, "ListRotations all, newest first", ids(list), []string{elsewhere.ID, active.ID, old.ID})
		list, _ = tx.ListRotations(ctx, store.RotationFilter{AccountID: k.ID})
		equal(t, "ListRotations of k", ids(list), []string{active.ID, old.ID})
		list, _ = tx.ListRotations(ctx, store.RotationFilter{AccountID: k.ID, ActiveOnly: true})
		equal(t, "ListRotations active of k", ids(list), []string{active.ID})
		list, _ = tx.ListRotations(ctx, store.RotationFilter{IdempotencyKey: old.IdempotencyKey})
		equal(t, "ListRotations by key", ids(list), []string{old.ID})
		list, err = tx.ListRotations(ctx, store.RotationFilter{Limit: 1})
		equal(t, "ListRotations limit", ids(list), []string{elsewhere.ID})
		return err
	})

	active.State, active.Rev, active.Owner = "stopping", 2, "o2"
	active.Steps = []store.RotationStepRow{{AppID: "a2", AppName: "app2", AppHost: "east", Phase: "stopped", Stopped: now()}}
	write(t, s, func(tx store.Tx) error { return tx.UpdateRotation(ctx, active) })
	wantErr(t, "UpdateRotation unknown", s.Write(ctx, func(tx store.Tx) error {
		return tx.UpdateRotation(ctx, NewRotation(k, now()))
	}), store.ErrNotFound)
	write(t, s, func(tx store.Tx) error { return tx.ForgetRotationResultsBefore(ctx, now().Add(-24*time.Hour)) })
	old.SealedResult = nil
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetRotation(ctx, active.ID)
		equal(t, "after UpdateRotation", got, active)
		if err != nil {
			return err
		}
		got, err = tx.GetRotation(ctx, old.ID)
		equal(t, "after ForgetRotationResultsBefore", got, old)
		return err
	})
}

func ids(rs []store.RotationRow) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
