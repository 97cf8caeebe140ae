package core

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// faultStore wraps a store to count reads and to fail chosen steps.
type faultStore struct {
	store.Store
	mu        sync.Mutex
	failAudit string // AppendAudit of this action fails
	queries   int
}

var errInjected = errors.New("injected failure")

func (f *faultStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Write(ctx, func(tx store.Tx) error { return fn(&faultTx{Tx: tx, f: f}) })
}

func (f *faultStore) Read(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Read(ctx, func(tx store.Tx) error { return fn(&faultTx{Tx: tx, f: f}) })
}

func (f *faultStore) count() {
	f.mu.Lock()
	f.queries++
	f.mu.Unlock()
}

func (f *faultStore) resetCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.queries
	f.queries = 0
	return n
}

type faultTx struct {
	store.Tx
	f *faultStore
}

func (t *faultTx) AppendAudit(ctx context.Context, e store.AuditRow) (int64, error) {
	t.f.mu.Lock()
	fail := e.Action == t.f.failAudit
	t.f.mu.Unlock()
	if fail {
		return 0, errInjected
	}
	return t.Tx.AppendAudit(ctx, e)
}

func (t *faultTx) GetAccount(ctx context.Context, id string) (store.AccountRow, error) {
	t.f.count()
	return t.Tx.GetAccount(ctx, id)
}

func (t *faultTx) GetApp(ctx context.Context, id string) (store.AppRow, error) {
	t.f.count()
	return t.Tx.GetApp(ctx, id)
}

func (t *faultTx) ListAccounts(ctx context.Context) ([]store.AccountRow, error) {
	t.f.count()
	return t.Tx.ListAccounts(ctx)
}

func (t *faultTx) ListApps(ctx context.Context) ([]store.AppRow, error) {
	t.f.count()
	return t.Tx.ListApps(ctx)
}

func (t *faultTx) ListAppsBoundTo(ctx context.Context, accountID string) ([]store.AppRow, error) {
	t.f.count()
	return t.Tx.ListAppsBoundTo(ctx, accountID)
}

func (t *faultTx) ListAppSecrets(ctx context.Context, f store.AppSecretFilter) ([]store.AppSecretRow, error) {
	t.f.count()
	return t.Tx.ListAppSecrets(ctx, f)
}

type env struct {
	s     *Service
	st    *faultStore
	box   *secretbox.Box
	clock *clock
	dir   string
	// secrets collects every secret and value the test saw, to prove none
	// reaches the audit log.
	secrets []string
}

// openSQLite opens a SQLite store and its key in a new directory of tb's.
func openSQLite(tb testing.TB) (store.Store, *secretbox.Box, string) {
	tb.Helper()
	dir := tb.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "apphost.db"))
	if err != nil {
		tb.Fatal(err)
	}
	box, err := secretbox.LoadOrCreate(filepath.Join(dir, "apphost.db.key"))
	if err != nil {
		tb.Fatal(err)
	}
	return st, box, dir
}

func newEnv(t *testing.T, threshold int) *env {
	t.Helper()
	st, box, dir := openSQLite(t)
	e := &env{
		st:    &faultStore{Store: st},
		box:   box,
		clock: &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)},
		dir:   dir,
	}
	e.s = NewService(e.st, box, Options{LockoutThreshold: threshold, Now: e.clock.Now})
	t.Cleanup(func() {
		e.assertNoSecretInAudit(t)
		_ = e.s.Close()
	})
	return e
}

func (e *env) account(t *testing.T, name string) *backend.AccountWithSecret {
	t.Helper()
	a, err := e.s.CreateAccount(context.Background(), backend.CreateAccountRequest{Name: name})
	if err != nil {
		t.Fatalf("CreateAccount(%s): %v", name, err)
	}
	e.secrets = append(e.secrets, a.Secret)
	return a
}

// appHost creates the App Host account of name (its secret kept out of
// the audit log's checks like every other).
func (e *env) appHost(t *testing.T, name string) {
	t.Helper()
	acct, err := e.s.CreateAccount(context.Background(), backend.CreateAccountRequest{Name: "host-" + name, AppHost: name})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, acct.Secret)
}

// openSession opens a session of the App Host name, as its host process
// does when it starts (driver says which).
func (e *env) openSession(t *testing.T, name, driver string) string {
	t.Helper()
	sess, err := e.s.OpenAppHostSession(context.Background(), name, "127.0.0.1:1", hostapi.SessionRequest{InstanceID: "i-" + name, Driver: driver})
	if err != nil {
		t.Fatal(err)
	}
	return sess.SessionID
}

func (e *env) app(t *testing.T, name string, deployed bool) *backend.App {
	t.Helper()
	a, err := e.s.CreateApp(context.Background(), backend.CreateAppRequest{Name: name, Deployed: deployed})
	if err != nil {
		t.Fatalf("CreateApp(%s): %v", name, err)
	}
	return a
}

func (e *env) put(t *testing.T, appID, name, accountID string, value *string) {
	t.Helper()
	if value != nil {
		e.secrets = append(e.secrets, *value)
	}
	_, err := e.s.PutAppSecret(context.Background(), backend.PutAppSecretRequest{
		AppID: appID, Name: name, AccountID: accountID, Value: value,
	})
	if err != nil {
		t.Fatalf("PutAppSecret(%s): %v", name, err)
	}
}

func (e *env) events(t *testing.T) []backend.AuditEvent {
	t.Helper()
	ev, err := e.s.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// actionsSince returns "actor action target_name" of the events after seq.
func (e *env) actionsSince(t *testing.T, seq int64) []string {
	t.Helper()
	ev, err := e.s.ListAuditEvents(context.Background(), backend.AuditQuery{AfterSeq: seq})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range ev {
		out = append(out, x.Actor+" "+x.Action+" "+x.TargetName)
	}
	return out
}

// wantActions fails t unless the audit events after seq are want, each
// "ACTOR ACTION TARGET_NAME".
func (e *env) wantActions(t *testing.T, seq int64, want ...string) {
	t.Helper()
	if acts := e.actionsSince(t, seq); !slices.Equal(acts, want) {
		t.Errorf("audit =\n%s\nwant\n%s", strings.Join(acts, "\n"), strings.Join(want, "\n"))
	}
}

func (e *env) lastSeq(t *testing.T) int64 {
	t.Helper()
	ev := e.events(t)
	if len(ev) == 0 {
		return 0
	}
	return ev[len(ev)-1].Seq
}

func (e *env) getAccount(t *testing.T, id string) *backend.Account {
	t.Helper()
	a, err := e.s.GetAccount(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) getApp(t *testing.T, id string) *backend.App {
	t.Helper()
	a, err := e.s.GetApp(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) assertNoSecretInAudit(t *testing.T) {
	t.Helper()
	ev, err := e.s.ListAuditEvents(context.Background(), backend.AuditQuery{})
	if err != nil {
		t.Errorf("list audit: %v", err)
		return
	}
	for _, x := range ev {
		for _, field := range []string{x.Actor, x.Action, x.TargetType, x.TargetID, x.TargetName, x.Detail} {
			for _, sec := range e.secrets {
				if len(sec) >= 8 && strings.Contains(field, sec) {
					t.Errorf("audit event %d holds a secret in %q", x.Seq, field)
				}
			}
			if strings.Contains(field, secretPrefix) {
				t.Errorf("audit event %d holds something like a secret: %q", x.Seq, field)
			}
		}
	}
}

func ptr(s string) *string { return &s }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if backend.CodeOf(err) != code {
		t.Fatalf("err = %v (code %q), want code %q", err, backend.CodeOf(err), code)
	}
}
