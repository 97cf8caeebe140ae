package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// testAppHosts: App Host accounts (unique), what apps run and what their
// hosts report, proven logins of app secrets, and App Host rows.
func testAppHosts(t *testing.T, s store.Store) {
	ctx := context.Background()
	east, plain := NewAccount("east-host"), NewAccount("plain")
	east.AppHost = "east"
	plain.PreviousSecrets = []store.PreviousSecret{{Hash: []byte{1, 2}, Version: 1, ReplacedAt: now()}}
	plain.RotationStrategy, plain.OverlapPeriod = "overlap", 90*time.Second
	plain.PendingSecretHash, plain.PendingSealedSecret = []byte{3, 4}, []byte{5, 6}
	app := NewApp("worker")
	app.AppHost = "east"
	app.Command = []string{"/bin/app", "--flag"}
	app.StopTimeout, app.StartTimeout, app.ReloadSignal = 3*time.Second, time.Minute, "SIGHUP"
	app.Generation, app.PausedAt, app.Reload = 7, now(), true
	app.Observed = store.AppObserved{Phase: "running", Generation: 7, PID: 42, StartedAt: now(), ExitCode: 3,
		Restarts: 1, Detail: "d", StderrTail: "e", TokenHash: "ab", ReportedAt: now(), ProvenLoginAt: now(), ReloadedAt: now()}
	other := NewApp("elsewhere")
	sec := store.AppSecretRow{AppID: app.ID, Name: "k", AccountID: plain.ID, Ciphertext: []byte{9}, UpdatedAt: now(),
		LoginVersion: 2, LoginAt: now(), PendingVersion: 3}
	write(t, s, func(tx store.Tx) error {
		for _, a := range []store.AccountRow{east, plain} {
			if err := tx.InsertAccount(ctx, a); err != nil {
				return err
			}
		}
		for _, a := range []store.AppRow{app, other} {
			if err := tx.InsertApp(ctx, a); err != nil {
				return err
			}
		}
		return tx.PutAppSecret(ctx, sec)
	})
	taken := NewAccount("west-host")
	taken.AppHost = "east"
	wantErr(t, "a second account for App Host east", s.Write(ctx, func(tx store.Tx) error { return tx.InsertAccount(ctx, taken) }), store.ErrConflict)
	sec.AppName = app.Name
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetAccountByAppHost(ctx, "east")
		equal(t, "GetAccountByAppHost", got, east)
		_, err2 := tx.GetAccountByAppHost(ctx, "")
		wantErr(t, "GetAccountByAppHost of no name", err2, store.ErrNotFound)
		_, err2 = tx.GetAccountByAppHost(ctx, "west")
		wantErr(t, "GetAccountByAppHost unknown", err2, store.ErrNotFound)
		gotPlain, err3 := tx.GetAccount(ctx, plain.ID)
		equal(t, "account with previous secrets", gotPlain, plain)
		gotApp, err4 := tx.GetApp(ctx, app.ID)
		equal(t, "app with command and observed state", gotApp, app)
		onHost, err5 := tx.ListAppsOnHost(ctx, "east")
		equal(t, "ListAppsOnHost", onHost, []store.AppRow{app})
		gotSec, err6 := tx.GetAppSecret(ctx, app.ID, "k")
		equal(t, "app secret with its login", gotSec, sec)
		for _, e := range []error{err, err3, err4, err5, err6} {
			if e != nil {
				return e
			}
		}
		return nil
	})

	// An overlap rotation's end: the pending secret goes, the app's reload
	// and the secret's pending version with it.
	plain.PendingSecretHash, plain.PendingSealedSecret, plain.RotationStrategy = nil, nil, "stop_first"
	app.Reload, sec.PendingVersion = false, 0
	write(t, s, func(tx store.Tx) error {
		if err := tx.UpdateAccount(ctx, plain); err != nil {
			return err
		}
		if err := tx.UpdateApp(ctx, app); err != nil {
			return err
		}
		return tx.PutAppSecret(ctx, sec)
	})
	read(t, s, func(tx store.Tx) error {
		gotPlain, err := tx.GetAccount(ctx, plain.ID)
		equal(t, "account without its pending secret", gotPlain, plain)
		gotApp, err2 := tx.GetApp(ctx, app.ID)
		equal(t, "app without its reload", gotApp, app)
		gotSec, err3 := tx.GetAppSecret(ctx, app.ID, "k")
		equal(t, "app secret without its pending version", gotSec, sec)
		return errors.Join(err, err2, err3)
	})

	h := store.AppHostRow{Name: "east", InstanceID: "i1", SessionID: "s1", Address: "10.0.0.1:1", Version: "v", Driver: "exec",
		Revision: 3, AppliedRevision: 2, ConnectedAt: now(), LastReport: now()}
	bare := store.AppHostRow{Name: "alpha", Revision: 1}
	write(t, s, func(tx store.Tx) error {
		if err := tx.PutAppHost(ctx, h); err != nil {
			return err
		}
		return tx.PutAppHost(ctx, bare)
	})
	h.Forgotten, h.OfflineAt, h.Revision = true, now(), 4
	write(t, s, func(tx store.Tx) error { return tx.PutAppHost(ctx, h) })
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetAppHost(ctx, "east")
		equal(t, "GetAppHost after an overwrite", got, h)
		_, err2 := tx.GetAppHost(ctx, "west")
		wantErr(t, "GetAppHost unknown", err2, store.ErrNotFound)
		list, err3 := tx.ListAppHosts(ctx)
		equal(t, "ListAppHosts", list, []store.AppHostRow{bare, h})
		if err != nil {
			return err
		}
		return err3
	})
}
