// Package storetest is the conformance suite every store.Store passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// Run runs the suite. open returns a new, empty store for each subtest and
// arranges for it to be closed.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"Times", testTimes},
		{"Apps", testApps},
		{"AppSecrets", testAppSecrets},
		{"DeleteAccountWithSecrets", testDeleteAccountWithSecrets},
		{"Rotations", testRotations},
		{"AppHosts", testAppHosts},
		{"Audit", testAudit},
		{"Settings", testSettings},
		{"Paging", testPaging},
		{"WriteTxMemory", testWriteTxMemory},
		{"Rollback", testRollback},
		{"ReadIsReadOnly", testReadIsReadOnly},
		{"ConcurrentWriters", func(t *testing.T, s store.Store) { Concurrent(t, s) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// now is a UTC time at the microsecond precision stores keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func write(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func read(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Read(context.Background(), fn); err != nil {
		t.Fatalf("Read: %v", err)
	}
}

// wantErr checks that err is target (errors.Is).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// NewAccount returns a valid account row named name.
func NewAccount(name string) store.AccountRow {
	n := now()
	return store.AccountRow{
		ID: uuid.NewString(), Name: name, Description: "d " + name,
		SecretHash: []byte("hash-" + name), SecretVersion: 1, SecretCreatedAt: n,
		CreatedAt: n, UpdatedAt: n,
	}
}

// NewApp returns a valid app row named name.
func NewApp(name string) store.AppRow {
	n := now()
	return store.AppRow{
		ID: uuid.NewString(), Name: name, AppHost: "default", Version: "1",
		Config: map[string]string{}, Status: "stopped", CreatedAt: n, UpdatedAt: n,
	}
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	b, a := NewAccount("b"), NewAccount("a")
	a.Admin = true
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertAccount(ctx, b); err != nil {
			return err
		}
		return tx.InsertAccount(ctx, a)
	})
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		equal(t, "GetAccount", got, a)
		got, err = tx.GetAccountByName(ctx, "b")
		if err != nil {
			return err
		}
		equal(t, "GetAccountByName", got, b)
		list, err := tx.ListAccounts(ctx)
		if err != nil {
			return err
		}
		equal(t, "ListAccounts", list, []store.AccountRow{a, b})
		_, err = tx.GetAccount(ctx, uuid.NewString())
		wantErr(t, "GetAccount unknown", err, store.ErrNotFound)
		_, err = tx.GetAccountByName(ctx, "nope")
		wantErr(t, "GetAccountByName unknown", err, store.ErrNotFound)
		return nil
	})

	dup := NewAccount("a")
	wantErr(t, "InsertAccount duplicate name", s.Write(ctx, func(tx store.Tx) error { return tx.InsertAccount(ctx, dup) }), store.ErrConflict)
	dupID := NewAccount("c")
	dupID.ID = a.ID
	wantErr(t, "InsertAccount duplicate id", s.Write(ctx, func(tx store.Tx) error { return tx.InsertAccount(ctx, dupID) }), store.ErrConflict)

	// Every field is overwritten.
	u := a
	u.Name, u.Description, u.SecretHash, u.Admin = "a2", "new", []byte("h2"), false
	u.SecretVersion, u.SecretCreatedAt, u.Locked, u.FailedLoginAttempts = 2, now().Add(time.Hour), true, 5
	u.CreatedAt, u.UpdatedAt = now().Add(-time.Hour), now().Add(2*time.Hour)
	write(t, s, func(tx store.Tx) error { return tx.UpdateAccount(ctx, u) })
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetAccount(ctx, a.ID)
		equal(t, "after UpdateAccount", got, u)
		return err
	})
	taken := u
	taken.Name = "b"
	wantErr(t, "UpdateAccount to a taken name", s.Write(ctx, func(tx store.Tx) error { return tx.UpdateAccount(ctx, taken) }), store.ErrConflict)
	wantErr(t, "UpdateAccount unknown", s.Write(ctx, func(tx store.Tx) error { return tx.UpdateAccount(ctx, NewAccount("x")) }), store.ErrNotFound)

	write(t, s, func(tx store.Tx) error { return tx.DeleteAccount(ctx, a.ID) })
	wantErr(t, "DeleteAccount again", s.Write(ctx, func(tx store.Tx) error { return tx.DeleteAccount(ctx, a.ID) }), store.ErrNotFound)
	read(t, s, func(tx store.Tx) error {
		_, err := tx.GetAccount(ctx, a.ID)
		wantErr(t, "GetAccount deleted", err, store.ErrNotFound)
		list, err := tx.ListAccounts(ctx)
		equal(t, "ListAccounts after delete", list, []store.AccountRow{b})
		return err
	})
}

func testTimes(t *testing.T, s store.Store) {
	ctx := context.Background()
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2026, 3, 4, 5, 6, 7, 123456789, loc)
	a := NewAccount("t")
	a.SecretCreatedAt, a.CreatedAt, a.UpdatedAt = in, time.Time{}, in.Add(time.Microsecond)
	write(t, s, func(tx store.Tx) error { return tx.InsertAccount(ctx, a) })
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		want := in.UTC().Truncate(time.Microsecond)
		if got.SecretCreatedAt != want || got.SecretCreatedAt.Location() != time.UTC {
			t.Errorf("SecretCreatedAt = %v, want %v in UTC", got.SecretCreatedAt, want)
		}
		if !got.UpdatedAt.Equal(want.Add(time.Microsecond)) {
			t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want.Add(time.Microsecond))
		}
		if !got.CreatedAt.IsZero() {
			t.Errorf("zero CreatedAt read back as %v", got.CreatedAt)
		}
		return nil
	})
}

func testApps(t *testing.T, s store.Store) {
	ctx := context.Background()
	z, y := NewApp("z"), NewApp("y")
	z.Config = nil // stored as {}
	y.Config = map[string]string{"k": "v", "quote\"d": "ü\n"}
	y.Deployed, y.Status = true, "running"
	y.Paused, y.StatusDetail, y.HeldBy = true, "waiting for app secret \"k\"", "r1"
	y.SecretNames = []string{"k", "other"}
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertApp(ctx, z); err != nil {
			return err
		}
		return tx.InsertApp(ctx, y)
	})
	z.Config = map[string]string{}
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetApp(ctx, z.ID)
		if err != nil {
			return err
		}
		if got.Config == nil {
			t.Error("GetApp: Config is nil")
		}
		equal(t, "GetApp", got, z)
		got, err = tx.GetAppByName(ctx, "y")
		equal(t, "GetAppByName", got, y)
		if err != nil {
			return err
		}
		list, err := tx.ListApps(ctx)
		equal(t, "ListApps", list, []store.AppRow{y, z})
		_, err2 := tx.GetApp(ctx, "nope")
		wantErr(t, "GetApp unknown", err2, store.ErrNotFound)
		_, err2 = tx.GetAppByName(ctx, "nope")
		wantErr(t, "GetAppByName unknown", err2, store.ErrNotFound)
		return err
	})
	wantErr(t, "InsertApp duplicate", s.Write(ctx, func(tx store.Tx) error { return tx.InsertApp(ctx, NewApp("y")) }), store.ErrConflict)

	u := z
	u.Name, u.AppHost, u.Version, u.Config = "w", "east", "2", map[string]string{"a": "b"}
	u.Deployed, u.Status, u.UpdatedAt = true, "failed", now().Add(time.Minute)
	u.Paused, u.StatusDetail, u.HeldBy, u.SecretNames = true, "exit code 3", "r2", []string{"s"}
	write(t, s, func(tx store.Tx) error { return tx.UpdateApp(ctx, u) })
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetApp(ctx, z.ID)
		equal(t, "after UpdateApp", got, u)
		return err
	})
	taken := u
	taken.Name = "y"
	wantErr(t, "UpdateApp to a taken name", s.Write(ctx, func(tx store.Tx) error { return tx.UpdateApp(ctx, taken) }), store.ErrConflict)
	wantErr(t, "UpdateApp unknown", s.Write(ctx, func(tx store.Tx) error { return tx.UpdateApp(ctx, NewApp("q")) }), store.ErrNotFound)

	write(t, s, func(tx store.Tx) error {
		return tx.PutAppSecret(ctx, store.AppSecretRow{AppID: y.ID, Name: "s", UpdatedAt: now()})
	})
	write(t, s, func(tx store.Tx) error { return tx.DeleteApp(ctx, y.ID) })
	wantErr(t, "DeleteApp again", s.Write(ctx, func(tx store.Tx) error { return tx.DeleteApp(ctx, y.ID) }), store.ErrNotFound)
	read(t, s, func(tx store.Tx) error {
		_, err := tx.GetAppSecret(ctx, y.ID, "s")
		wantErr(t, "secret of a deleted app", err, store.ErrNotFound)
		list, err := tx.ListAppSecrets(ctx, store.AppSecretFilter{})
		if len(list) != 0 {
			t.Errorf("secrets left after DeleteApp: %+v", list)
		}
		return err
	})
}

func testAppSecrets(t *testing.T, s store.Store) {
	ctx := context.Background()
	k1, k2 := NewAccount("k1"), NewAccount("k2")
	b, a := NewApp("b"), NewApp("a")
	write(t, s, func(tx store.Tx) error {
		for _, acc := range []store.AccountRow{k1, k2} {
			if err := tx.InsertAccount(ctx, acc); err != nil {
				return err
			}
		}
		for _, app := range []store.AppRow{b, a} {
			if err := tx.InsertApp(ctx, app); err != nil {
				return err
			}
		}
		return nil
	})
	bs2 := store.AppSecretRow{AppID: b.ID, Name: "s2", AccountID: k1.ID, Ciphertext: []byte{1, 2}, UpdatedAt: now(), AppName: "b"}
	bs1 := store.AppSecretRow{AppID: b.ID, Name: "s1", AccountID: k2.ID, Ciphertext: []byte{3}, UpdatedAt: now(), AppName: "b"}
	as := store.AppSecretRow{AppID: a.ID, Name: "z", AccountID: k1.ID, Ciphertext: []byte{4}, UpdatedAt: now(), AppName: "a"}
	unbound := store.AppSecretRow{AppID: a.ID, Name: "u", UpdatedAt: now(), AppName: "a"} // no account, no value
	write(t, s, func(tx store.Tx) error {
		for _, r := range []store.AppSecretRow{bs2, bs1, as, unbound} {
			r.AppName = "ignored"
			if err := tx.PutAppSecret(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(f store.AppSecretFilter) []store.AppSecretRow {
		var out []store.AppSecretRow
		read(t, s, func(tx store.Tx) error {
			var err error
			out, err = tx.ListAppSecrets(ctx, f)
			return err
		})
		return out
	}
	equal(t, "ListAppSecrets all", list(store.AppSecretFilter{}), []store.AppSecretRow{unbound, as, bs1, bs2})
	equal(t, "ListAppSecrets by app", list(store.AppSecretFilter{AppID: b.ID}), []store.AppSecretRow{bs1, bs2})
	equal(t, "ListAppSecrets by account", list(store.AppSecretFilter{AccountID: k1.ID}), []store.AppSecretRow{as, bs2})
	equal(t, "ListAppSecrets by both", list(store.AppSecretFilter{AppID: a.ID, AccountID: k1.ID}), []store.AppSecretRow{as})
	equal(t, "ListAppSecrets of apps bound to k2", list(store.AppSecretFilter{OfAppsBoundTo: k2.ID}), []store.AppSecretRow{bs1, bs2})
	equal(t, "ListAppSecrets of apps bound to k1", list(store.AppSecretFilter{OfAppsBoundTo: k1.ID}), []store.AppSecretRow{unbound, as, bs1, bs2})
	read(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			account string
			want    []string
		}{{k1.ID, []string{"a", "b"}}, {k2.ID, []string{"b"}}, {"none", nil}} {
			apps, err := tx.ListAppsBoundTo(ctx, c.account)
			if err != nil {
				return err
			}
			var names []string
			for _, a := range apps {
				names = append(names, a.Name)
			}
			equal(t, "ListAppsBoundTo "+c.account, names, c.want)
		}
		return nil
	})
	if got := list(store.AppSecretFilter{AccountID: "none"}); len(got) != 0 {
		t.Errorf("ListAppSecrets unknown account: %+v", got)
	}
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetAppSecret(ctx, a.ID, "u")
		equal(t, "GetAppSecret unbound", got, unbound)
		if got.Ciphertext != nil {
			t.Errorf("Ciphertext without value = %v, want nil", got.Ciphertext)
		}
		_, err2 := tx.GetAppSecret(ctx, a.ID, "nope")
		wantErr(t, "GetAppSecret unknown", err2, store.ErrNotFound)
		return err
	})

	// Put overwrites: rebind, new value, and back to no value.
	bs2.AccountID, bs2.Ciphertext, bs2.UpdatedAt = k2.ID, []byte{9, 9}, now().Add(time.Second)
	write(t, s, func(tx store.Tx) error { return tx.PutAppSecret(ctx, bs2) })
	bs1.AccountID, bs1.Ciphertext = "", nil
	write(t, s, func(tx store.Tx) error { return tx.PutAppSecret(ctx, bs1) })
	equal(t, "after overwrite", list(store.AppSecretFilter{AppID: b.ID}), []store.AppSecretRow{bs1, bs2})

	wantErr(t, "PutAppSecret unknown app", s.Write(ctx, func(tx store.Tx) error {
		return tx.PutAppSecret(ctx, store.AppSecretRow{AppID: uuid.NewString(), Name: "x", UpdatedAt: now()})
	}), store.ErrNotFound)
	wantErr(t, "PutAppSecret unknown account", s.Write(ctx, func(tx store.Tx) error {
		return tx.PutAppSecret(ctx, store.AppSecretRow{AppID: a.ID, Name: "x", AccountID: uuid.NewString(), UpdatedAt: now()})
	}), store.ErrNotFound)

	write(t, s, func(tx store.Tx) error { return tx.DeleteAppSecret(ctx, b.ID, "s1") })
	wantErr(t, "DeleteAppSecret again", s.Write(ctx, func(tx store.Tx) error { return tx.DeleteAppSecret(ctx, b.ID, "s1") }), store.ErrNotFound)
	equal(t, "after DeleteAppSecret", list(store.AppSecretFilter{AppID: b.ID}), []store.AppSecretRow{bs2})
}

// testDeleteAccountWithSecrets: a bound secret does not block DeleteAccount;
// it is left unbound.
func testDeleteAccountWithSecrets(t *testing.T, s store.Store) {
	ctx := context.Background()
	k, app := NewAccount("k"), NewApp("app")
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertAccount(ctx, k); err != nil {
			return err
		}
		if err := tx.InsertApp(ctx, app); err != nil {
			return err
		}
		return tx.PutAppSecret(ctx, store.AppSecretRow{AppID: app.ID, Name: "s", AccountID: k.ID, Ciphertext: []byte{1}, UpdatedAt: now()})
	})
	write(t, s, func(tx store.Tx) error { return tx.DeleteAccount(ctx, k.ID) })
	read(t, s, func(tx store.Tx) error {
		got, err := tx.GetAppSecret(ctx, app.ID, "s")
		if err != nil {
			return err
		}
		if got.AccountID != "" {
			t.Errorf("secret still bound to the deleted account: %q", got.AccountID)
		}
		return nil
	})
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	var want []store.AuditRow
	for i := range 5 {
		e := store.AuditRow{Time: now(), Actor: "admin", Action: "app.create", TargetType: "app",
			TargetID: fmt.Sprint(i), TargetName: "n", Detail: "d"}
		write(t, s, func(tx store.Tx) error {
			seq, err := tx.AppendAudit(ctx, e)
			e.Seq = seq
			return err
		})
		if len(want) > 0 && e.Seq != want[len(want)-1].Seq+1 {
			t.Errorf("seq %d after %d, want one more", e.Seq, want[len(want)-1].Seq)
		}
		want = append(want, e)
	}
	read(t, s, func(tx store.Tx) error {
		all, err := tx.ListAudit(ctx, 0, 0)
		equal(t, "ListAudit all", all, want)
		page, err2 := tx.ListAudit(ctx, want[1].Seq, 2)
		equal(t, "ListAudit page", page, want[2:4])
		return errors.Join(err, err2)
	})
	// A rolled back event leaves no gap.
	_ = s.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.AppendAudit(ctx, store.AuditRow{Time: now()}); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	write(t, s, func(tx store.Tx) error {
		seq, err := tx.AppendAudit(ctx, store.AuditRow{Time: now()})
		if seq != want[len(want)-1].Seq+1 {
			t.Errorf("seq after a rollback = %d, want %d", seq, want[len(want)-1].Seq+1)
		}
		return err
	})
}

func testRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertAccount(ctx, NewAccount("a")); err != nil {
			return err
		}
		if err := tx.InsertApp(ctx, NewApp("a")); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, store.AuditRow{Time: now()}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Errorf("Write returned %v, want fn's error unchanged", err)
	}
	// A failed statement, then the error returned: the earlier insert goes too.
	err = s.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertAccount(ctx, NewAccount("b")); err != nil {
			return err
		}
		return tx.InsertAccount(ctx, NewAccount("b"))
	})
	wantErr(t, "duplicate in one transaction", err, store.ErrConflict)
	// A panic rolls back too.
	func() {
		defer func() { _ = recover() }()
		_ = s.Write(ctx, func(tx store.Tx) error {
			if err := tx.InsertAccount(ctx, NewAccount("c")); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	read(t, s, func(tx store.Tx) error {
		accounts, err := tx.ListAccounts(ctx)
		apps, err2 := tx.ListApps(ctx)
		audit, err3 := tx.ListAudit(ctx, 0, 0)
		if len(accounts)+len(apps)+len(audit) != 0 {
			t.Errorf("rolled back rows remain: %d accounts, %d apps, %d events", len(accounts), len(apps), len(audit))
		}
		return errors.Join(err, err2, err3)
	})
	// The store still works after a panic.
	write(t, s, func(tx store.Tx) error { return tx.InsertAccount(ctx, NewAccount("d")) })
}

func testReadIsReadOnly(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := s.Read(ctx, func(tx store.Tx) error { return tx.InsertAccount(ctx, NewAccount("r")) })
	if err == nil {
		t.Error("InsertAccount in a Read transaction succeeded")
	}
	read(t, s, func(tx store.Tx) error {
		list, err := tx.ListAccounts(ctx)
		if len(list) != 0 {
			t.Errorf("a write in Read was kept: %+v", list)
		}
		return err
	})
}

// Concurrent runs writers spread over stores, which must all be handles on
// one database (for instance opened by separate "processes"): each write
// reads a counter, increments it and appends an audit event. Lost updates or
// duplicate sequence numbers fail the test. Readers run alongside.
func Concurrent(t *testing.T, stores ...store.Store) {
	t.Helper()
	ctx := context.Background()
	const workers, perWorker = 10, 10
	acc := NewAccount(fmt.Sprintf("counter-%s", uuid.NewString()[:8]))
	if err := stores[0].Write(ctx, func(tx store.Tx) error { return tx.InsertAccount(ctx, acc) }); err != nil {
		t.Fatalf("insert counter account: %v", err)
	}
	var before int64
	if err := stores[0].Read(ctx, func(tx store.Tx) error {
		all, err := tx.ListAudit(ctx, 0, 0)
		before = int64(len(all))
		return err
	}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	seqs := map[int64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for range perWorker {
				var seq int64
				err := s.Write(ctx, func(tx store.Tx) error {
					a, err := tx.GetAccount(ctx, acc.ID)
					if err != nil {
						return err
					}
					a.FailedLoginAttempts++
					if err := tx.UpdateAccount(ctx, a); err != nil {
						return err
					}
					seq, err = tx.AppendAudit(ctx, store.AuditRow{Time: now(), Actor: fmt.Sprint(w), Action: "login.failure"})
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if seqs[seq] {
					errs <- fmt.Errorf("seq %d assigned twice", seq)
				}
				seqs[seq] = true
				mu.Unlock()
				// A reader sees a consistent state: no more events than count.
				errs <- s.Read(ctx, func(tx store.Tx) error {
					a, err := tx.GetAccount(ctx, acc.ID)
					if err != nil {
						return err
					}
					events, err := tx.ListAudit(ctx, 0, 0)
					if err != nil {
						return err
					}
					if int64(len(events))-before != a.FailedLoginAttempts {
						return fmt.Errorf("snapshot has count %d but %d events", a.FailedLoginAttempts, int64(len(events))-before)
					}
					return nil
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	if err := stores[len(stores)-1].Read(ctx, func(tx store.Tx) error {
		a, err := tx.GetAccount(ctx, acc.ID)
		if err != nil {
			return err
		}
		if a.FailedLoginAttempts != workers*perWorker {
			t.Errorf("counter = %d, want %d (lost updates)", a.FailedLoginAttempts, workers*perWorker)
		}
		events, err := tx.ListAudit(ctx, 0, 0)
		if err != nil {
			return err
		}
		for i := 1; i < len(events); i++ {
			if events[i].Seq != events[i-1].Seq+1 {
				t.Errorf("audit seq %d follows %d", events[i].Seq, events[i-1].Seq)
			}
		}
		if int64(len(events)) != before+workers*perWorker {
			t.Errorf("%d events, want %d", len(events), before+workers*perWorker)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
