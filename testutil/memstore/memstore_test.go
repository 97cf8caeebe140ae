package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/storetest"
	"github.com/apphost/terraform-provider-apphost/testutil/memstore"
)

// TestConformance runs the store conformance suite, as the SQLite and
// PostgreSQL stores do.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := memstore.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestContract runs the backend contract suite against the real domain over
// the in-memory store: the benchmark's no-I/O floor.
func TestContract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Target {
		return backendtest.Over(t, memstore.New())
	})
}

// TestSaveLoad: a loaded store holds every table as saved, empty ones
// included, and takes writes; Commits counts only committed writes.
func TestSaveLoad(t *testing.T) {
	ctx := context.Background()
	empty := memstore.New()
	var buf bytes.Buffer
	if err := empty.Save(&buf); err != nil {
		t.Fatal(err)
	}
	s, err := memstore.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	a, app := storetest.NewAccount("k"), storetest.NewApp("a")
	sec := store.AppSecretRow{AppID: app.ID, Name: "s", AccountID: a.ID, Ciphertext: []byte{1}, UpdatedAt: a.CreatedAt}
	rot := storetest.NewRotation(a, a.CreatedAt)
	event := store.AuditRow{Seq: 1, Time: a.CreatedAt, Actor: "t", Action: "x"}
	err = s.Write(ctx, func(tx store.Tx) error {
		return errors.Join(tx.InsertAccount(ctx, a), tx.InsertApp(ctx, app), tx.PutAppSecret(ctx, sec),
			tx.InsertRotation(ctx, rot), tx.PutSetting(ctx, "n", []byte("v")), appendAudit(ctx, tx, event))
	})
	if err != nil {
		t.Fatalf("writing into a loaded empty store: %v", err)
	}
	_ = s.Write(ctx, func(store.Tx) error { return context.Canceled }) // rolled back: not counted
	if got := s.Commits(); got != 1 {
		t.Errorf("Commits = %d, want 1", got)
	}

	buf.Reset()
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	loaded, err := memstore.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.Commits(); got != 0 {
		t.Errorf("Commits of a loaded store = %d, want 0", got)
	}
	sec.AppName = app.Name
	err = loaded.Read(ctx, func(tx store.Tx) error {
		gotA, err1 := tx.GetAccount(ctx, a.ID)
		gotApp, err2 := tx.GetApp(ctx, app.ID)
		gotSec, err3 := tx.GetAppSecret(ctx, app.ID, "s")
		gotRot, err4 := tx.GetRotation(ctx, rot.ID)
		gotSet, err5 := tx.GetSetting(ctx, "n")
		gotAudit, err6 := tx.ListAudit(ctx, 0, 0)
		if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
			return err
		}
		for _, c := range []struct {
			what      string
			got, want any
		}{
			{"account", gotA, a}, {"app", gotApp, app}, {"app secret", gotSec, sec},
			{"rotation", gotRot, rot}, {"setting", string(gotSet), "v"}, {"audit", gotAudit, []store.AuditRow{event}},
		} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s after Load:\n got %+v\nwant %+v", c.what, c.got, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func appendAudit(ctx context.Context, tx store.Tx, e store.AuditRow) error {
	_, err := tx.AppendAudit(ctx, e)
	return err
}
