package storetest

import (
	"context"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// testSettings: a setting is unset, then set, then overwritten; the first
// remembered regenerate result is found.
func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	read(t, s, func(tx store.Tx) error {
		_, err := tx.GetSetting(ctx, "key_check")
		wantErr(t, "GetSetting(unset)", err, store.ErrNotFound)
		_, err = tx.FirstSealedResult(ctx)
		wantErr(t, "FirstSealedResult(none)", err, store.ErrNotFound)
		return nil
	})
	a := NewAccount("settings")
	write(t, s, func(tx store.Tx) error {
		if err := tx.PutSetting(ctx, "key_check", []byte{1, 0, 2}); err != nil {
			return err
		}
		if err := tx.PutSetting(ctx, "key_check", []byte{3, 0, 4}); err != nil {
			return err
		}
		if err := tx.InsertAccount(ctx, a); err != nil {
			return err
		}
		r := NewRotation(a, now())
		r.SealedResult = []byte("sealed")
		return tx.InsertRotation(ctx, r)
	})
	read(t, s, func(tx store.Tx) error {
		v, err := tx.GetSetting(ctx, "key_check")
		if err != nil {
			return err
		}
		equal(t, "key_check", v, []byte{3, 0, 4})
		sealed, err := tx.FirstSealedResult(ctx)
		if err != nil {
			return err
		}
		equal(t, "first sealed result", sealed, []byte("sealed"))
		return nil
	})
}
