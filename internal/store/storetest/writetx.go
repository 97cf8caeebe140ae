package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// testWriteTxMemory: inside one write transaction an account reads back as
// last written, many audit events get consecutive numbers and are all
// there (also to a read in the same transaction), and a rolled-back
// transaction leaves neither its events nor its account changes behind.
func testWriteTxMemory(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := NewAccount("mem")
	write(t, s, func(tx store.Tx) error { return tx.InsertAccount(ctx, a) })

	const n = 450 // more than one batch
	var first, last int64
	write(t, s, func(tx store.Tx) error {
		got, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		got.FailedLoginAttempts = 3
		if err := tx.UpdateAccount(ctx, got); err != nil {
			return err
		}
		again, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		equal(t, "failed_login_attempts read back in the transaction", again.FailedLoginAttempts, int64(3))
		for i := range n {
			seq, err := tx.AppendAudit(ctx, store.AuditRow{Time: now(), Actor: "t", Action: "login.success", TargetType: "api_key_account", TargetID: a.ID})
			if err != nil {
				return err
			}
			if i == 0 {
				first = seq
			} else if seq != last+1 {
				t.Errorf("event %d: seq %d after %d", i, seq, last)
			}
			last = seq
		}
		evs, err := tx.ListAudit(ctx, first-1, 0)
		if err != nil {
			return err
		}
		equal(t, "events seen in the transaction", len(evs), n)
		return nil
	})
	read(t, s, func(tx store.Tx) error {
		evs, err := tx.ListAudit(ctx, first-1, 0)
		if err != nil {
			return err
		}
		equal(t, "events after commit", len(evs), n)
		got, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		equal(t, "failed_login_attempts after commit", got.FailedLoginAttempts, int64(3))
		return nil
	})

	boom := errors.New("boom")
	err := s.Write(ctx, func(tx store.Tx) error {
		got, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		got.Locked = true
		if err := tx.UpdateAccount(ctx, got); err != nil {
			return err
		}
		for range 3 {
			if _, err := tx.AppendAudit(ctx, store.AuditRow{Time: now(), Actor: "t", Action: "x", TargetType: "y"}); err != nil {
				return err
			}
		}
		return boom
	})
	wantErr(t, "rolled-back write", err, boom)
	read(t, s, func(tx store.Tx) error {
		evs, err := tx.ListAudit(ctx, last, 0)
		if err != nil {
			return err
		}
		equal(t, "events of a rolled-back transaction", len(evs), 0)
		got, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		equal(t, "locked after a rollback", got.Locked, false)
		return nil
	})
	// The next transaction numbers on from the last committed event.
	write(t, s, func(tx store.Tx) error {
		seq, err := tx.AppendAudit(ctx, store.AuditRow{Time: now(), Actor: "t", Action: "z", TargetType: "y"})
		equal(t, "seq after a rollback", seq, last+1)
		return err
	})
}
