package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

var _ store.Tx = (*tx)(nil)

// sorted returns the rows of m that keep accepts (nil: all), in the order of by.
func sorted[K comparable, V any](m map[K]V, keep func(V) bool, by func(a, b V) int) []V {
	var out []V
	for _, v := range m {
		if keep == nil || keep(v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, by)
	return out
}

// named is a table of rows with an ID and a unique name (accounts, apps):
// what their Tx methods share.
type named[R any] struct {
	what     string // "account", "app"
	rows     func(*tables) map[string]R
	id, name func(R) string
	// in is a row as stored, out a stored row as returned (copies of its
	// slices and maps, so that no caller shares them with the store).
	in, out func(R) R
}

var accounts = named[store.AccountRow]{
	what: "account",
	rows: func(db *tables) map[string]store.AccountRow { return db.Accounts },
	id:   func(a store.AccountRow) string { return a.ID },
	name: func(a store.AccountRow) string { return a.Name },
	in: func(a store.AccountRow) store.AccountRow {
		a.PreviousSecrets = previous(a.PreviousSecrets)
		a.SecretHash = notNil(a.SecretHash)
		a.SealedSecret = bytes.Clone(a.SealedSecret)
		a.PendingSecretHash, a.PendingSealedSecret = bytes.Clone(a.PendingSecretHash), bytes.Clone(a.PendingSealedSecret)
		a.OverlapPeriod = a.OverlapPeriod.Truncate(time.Millisecond)
		a.SecretCreatedAt, a.CreatedAt, a.UpdatedAt = stamp(a.SecretCreatedAt), stamp(a.CreatedAt), stamp(a.UpdatedAt)
		return a
	},
	out: func(a store.AccountRow) store.AccountRow {
		a.PreviousSecrets = previous(a.PreviousSecrets)
		a.SecretHash = bytes.Clone(a.SecretHash)
		a.SealedSecret = bytes.Clone(a.SealedSecret)
		a.PendingSecretHash, a.PendingSealedSecret = bytes.Clone(a.PendingSecretHash), bytes.Clone(a.PendingSealedSecret)
		return a
	},
}

var apps = named[store.AppRow]{
	what: "app",
	rows: func(db *tables) map[string]store.AppRow { return db.Apps },
	id:   func(a store.AppRow) string { return a.ID },
	name: func(a store.AppRow) string { return a.Name },
	in: func(a store.AppRow) store.AppRow {
		a.Config = config(a.Config)
		a.SecretNames, a.Command = names(a.SecretNames), names(a.Command)
		a.CreatedAt, a.UpdatedAt, a.PausedAt = stamp(a.CreatedAt), stamp(a.UpdatedAt), stampOrZero(a.PausedAt)
		a.StopTimeout, a.StartTimeout = a.StopTimeout.Truncate(time.Millisecond), a.StartTimeout.Truncate(time.Millisecond)
		o := &a.Observed
		o.StartedAt, o.ReportedAt, o.ProvenLoginAt = stampOrZero(o.StartedAt), stampOrZero(o.ReportedAt), stampOrZero(o.ProvenLoginAt)
		o.ReloadedAt = stampOrZero(o.ReloadedAt)
		return a
	},
	out: func(a store.AppRow) store.AppRow {
		a.Config = config(a.Config)
		a.SecretNames, a.Command = names(a.SecretNames), names(a.Command)
		return a
	},
}

// taken reports whether a row other than except is named name.
func (n named[R]) taken(t *tx, name, except string) (R, bool) {
	for _, r := range n.rows(t.db) {
		if n.name(r) == name && n.id(r) != except {
			return r, true
		}
	}
	var zero R
	return zero, false
}

func (n named[R]) insert(t *tx, r R) error {
	if err := t.check(true); err != nil {
		return err
	}
	if _, ok := n.rows(t.db)[n.id(r)]; ok {
		return conflict("insert %s %q: ID %q is taken", n.what, n.name(r), n.id(r))
	}
	if _, ok := n.taken(t, n.name(r), ""); ok {
		return conflict("insert %s %q: the name is taken", n.what, n.name(r))
	}
	set(t, n.rows(t.db), n.id(r), n.in(r))
	return nil
}

func (n named[R]) get(t *tx, id string) (R, error) {
	if err := t.check(false); err != nil {
		var zero R
		return zero, err
	}
	r, ok := n.rows(t.db)[id]
	if !ok {
		return r, notFound("%s %q", n.what, id)
	}
	return n.out(r), nil
}

func (n named[R]) getByName(t *tx, name string) (R, error) {
	if err := t.check(false); err != nil {
		var zero R
		return zero, err
	}
	r, ok := n.taken(t, name, "")
	if !ok {
		return r, notFound("%s named %q", n.what, name)
	}
	return n.out(r), nil
}

// list returns the rows keep accepts (nil: all), sorted by name.
func (n named[R]) list(t *tx, keep func(R) bool) ([]R, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	rows := sorted(n.rows(t.db), keep, func(a, b R) int { return strings.Compare(n.name(a), n.name(b)) })
	for i := range rows {
		rows[i] = n.out(rows[i])
	}
	return rows, nil
}

// page returns up to limit (at least 1) rows named after afterName.
func (n named[R]) page(t *tx, afterName string, limit int) ([]R, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list %ss page: limit %d must be at least 1", n.what, limit)
	}
	rows, err := n.list(t, func(r R) bool { return n.name(r) > afterName })
	return rows[:min(limit, len(rows))], err
}

func (n named[R]) update(t *tx, r R) error {
	if err := t.check(true); err != nil {
		return err
	}
	if _, ok := n.rows(t.db)[n.id(r)]; !ok {
		return notFound("update %s %q", n.what, n.id(r))
	}
	if _, ok := n.taken(t, n.name(r), n.id(r)); ok {
		return conflict("update %s %q: the name %q is taken", n.what, n.id(r), n.name(r))
	}
	set(t, n.rows(t.db), n.id(r), n.in(r))
	return nil
}

// --- accounts ---

func (t *tx) InsertAccount(_ context.Context, a store.AccountRow) error {
	if err := t.appHostFree(a); err != nil {
		return err
	}
	return accounts.insert(t, a)
}

// appHostFree fails when another account is already a's App Host's account.
func (t *tx) appHostFree(a store.AccountRow) error {
	if a.AppHost == "" {
		return nil
	}
	for _, b := range t.db.Accounts {
		if b.AppHost == a.AppHost && b.ID != a.ID {
			return conflict("account %q: App Host %q already has an account", a.ID, a.AppHost)
		}
	}
	return nil
}

func (t *tx) GetAccountByAppHost(_ context.Context, name string) (store.AccountRow, error) {
	if err := t.check(false); err != nil {
		return store.AccountRow{}, err
	}
	for _, a := range t.db.Accounts {
		if a.AppHost == name && name != "" {
			return accounts.out(a), nil
		}
	}
	return store.AccountRow{}, notFound("App Host account of %q", name)
}

func (t *tx) GetAccount(_ context.Context, id string) (store.AccountRow, error) {
	return accounts.get(t, id)
}

func (t *tx) GetAccountByName(_ context.Context, name string) (store.AccountRow, error) {
	return accounts.getByName(t, name)
}

func (t *tx) ListAccounts(context.Context) ([]store.AccountRow, error) {
	return accounts.list(t, nil)
}

func (t *tx) ListAccountsPage(_ context.Context, afterName string, limit int) ([]store.AccountRow, error) {
	return accounts.page(t, afterName, limit)
}

func (t *tx) UpdateAccount(_ context.Context, a store.AccountRow) error {
	if err := t.appHostFree(a); err != nil {
		return err
	}
	return accounts.update(t, a)
}

// DeleteAccount unbinds the account's app secrets and forgets its
// regenerate results, as the SQL stores' foreign keys do.
func (t *tx) DeleteAccount(_ context.Context, id string) error {
	if err := t.check(true); err != nil {
		return err
	}
	if _, ok := t.db.Accounts[id]; !ok {
		return notFound("delete account %q", id)
	}
	for k, s := range t.db.AppSecrets {
		if s.AccountID == id {
			s.AccountID = ""
			set(t, t.db.AppSecrets, k, s)
		}
	}
	del(t, t.db.Accounts, id)
	return nil
}

// --- apps ---

func (t *tx) InsertApp(_ context.Context, a store.AppRow) error {
	return apps.insert(t, a)
}

func (t *tx) GetApp(_ context.Context, id string) (store.AppRow, error) {
	return apps.get(t, id)
}

func (t *tx) GetAppByName(_ context.Context, name string) (store.AppRow, error) {
	return apps.getByName(t, name)
}

func (t *tx) ListApps(context.Context) ([]store.AppRow, error) {
	return apps.list(t, nil)
}

func (t *tx) ListAppsPage(_ context.Context, afterName string, limit int) ([]store.AppRow, error) {
	return apps.page(t, afterName, limit)
}

// boundApps returns the IDs of the apps with a secret bound to accountID.
func (t *tx) boundApps(accountID string) map[string]bool {
	ids := map[string]bool{}
	for k, s := range t.db.AppSecrets {
		if s.AccountID == accountID {
			ids[k.AppID] = true
		}
	}
	return ids
}

func (t *tx) ListAppsOnHost(_ context.Context, name string) ([]store.AppRow, error) {
	return apps.list(t, func(a store.AppRow) bool { return a.AppHost == name })
}

func (t *tx) ListAppsBoundTo(_ context.Context, accountID string) ([]store.AppRow, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	bound := t.boundApps(accountID)
	return apps.list(t, func(a store.AppRow) bool { return bound[a.ID] })
}

func (t *tx) UpdateApp(_ context.Context, a store.AppRow) error {
	return apps.update(t, a)
}

func (t *tx) DeleteApp(_ context.Context, id string) error {
	if err := t.check(true); err != nil {
		return err
	}
	if _, ok := t.db.Apps[id]; !ok {
		return notFound("delete app %q", id)
	}
	for k := range t.db.AppSecrets {
		if k.AppID == id {
			del(t, t.db.AppSecrets, k)
		}
	}
	del(t, t.db.Apps, id)
	return nil
}

// --- app secrets ---

// secretOut is a stored secret as reads return it, with its app's name.
func (t *tx) secretOut(s store.AppSecretRow) store.AppSecretRow {
	s.Ciphertext = bytes.Clone(s.Ciphertext)
	s.AppName = t.db.Apps[s.AppID].Name
	return s
}

func (t *tx) PutAppSecret(_ context.Context, s store.AppSecretRow) error {
	if err := t.check(true); err != nil {
		return err
	}
	if _, ok := t.db.Apps[s.AppID]; !ok {
		return notFound("put app secret %q: app %q", s.Name, s.AppID)
	}
	if _, ok := t.db.Accounts[s.AccountID]; s.AccountID != "" && !ok {
		return notFound("put app secret %q of app %q: account %q", s.Name, s.AppID, s.AccountID)
	}
	s.Ciphertext = bytes.Clone(s.Ciphertext)
	s.UpdatedAt, s.LoginAt = stamp(s.UpdatedAt), stampOrZero(s.LoginAt)
	s.AppName = ""
	set(t, t.db.AppSecrets, secretKey{s.AppID, s.Name}, s)
	return nil
}

func (t *tx) GetAppSecret(_ context.Context, appID, name string) (store.AppSecretRow, error) {
	if err := t.check(false); err != nil {
		return store.AppSecretRow{}, err
	}
	s, ok := t.db.AppSecrets[secretKey{appID, name}]
	if !ok {
		return s, notFound("app secret %q of app %q", name, appID)
	}
	return t.secretOut(s), nil
}

func (t *tx) ListAppSecrets(_ context.Context, f store.AppSecretFilter) ([]store.AppSecretRow, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	var ofBound map[string]bool
	if f.OfAppsBoundTo != "" {
		ofBound = t.boundApps(f.OfAppsBoundTo)
	}
	keep := func(s store.AppSecretRow) bool {
		return (f.AppID == "" || s.AppID == f.AppID) &&
			(f.AccountID == "" || s.AccountID == f.AccountID) &&
			(ofBound == nil || ofBound[s.AppID]) &&
			(len(f.AppIDs) == 0 || slices.Contains(f.AppIDs, s.AppID)) &&
			(len(f.AccountIDs) == 0 || slices.Contains(f.AccountIDs, s.AccountID))
	}
	var out []store.AppSecretRow
	for _, s := range t.db.AppSecrets {
		if keep(s) {
			out = append(out, t.secretOut(s))
		}
	}
	slices.SortFunc(out, func(a, b store.AppSecretRow) int {
		return cmp.Or(strings.Compare(a.AppName, b.AppName), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

func (t *tx) DeleteAppSecret(_ context.Context, appID, name string) error {
	if err := t.check(true); err != nil {
		return err
	}
	k := secretKey{appID, name}
	if _, ok := t.db.AppSecrets[k]; !ok {
		return notFound("app secret %q of app %q", name, appID)
	}
	del(t, t.db.AppSecrets, k)
	return nil
}

// --- app hosts ---

func (t *tx) GetAppHost(_ context.Context, name string) (store.AppHostRow, error) {
	if err := t.check(false); err != nil {
		return store.AppHostRow{}, err
	}
	h, ok := t.db.AppHosts[name]
	if !ok {
		return h, notFound("App Host %q", name)
	}
	return h, nil
}

func (t *tx) ListAppHosts(context.Context) ([]store.AppHostRow, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	return sorted(t.db.AppHosts, nil, func(a, b store.AppHostRow) int { return strings.Compare(a.Name, b.Name) }), nil
}

func (t *tx) PutAppHost(_ context.Context, h store.AppHostRow) error {
	if err := t.check(true); err != nil {
		return err
	}
	h.ConnectedAt, h.LastReport, h.OfflineAt = stampOrZero(h.ConnectedAt), stampOrZero(h.LastReport), stampOrZero(h.OfflineAt)
	set(t, t.db.AppHosts, h.Name, h)
	return nil
}

// --- rotations ---

// rotationIn is a rotation as stored, rotationOut a stored one as returned:
// copies, so that no caller shares its slices with the store.
func rotationIn(r store.RotationRow) store.RotationRow {
	r = rotationOut(r)
	r.LeaseUntil, r.CreatedAt, r.UpdatedAt = stamp(r.LeaseUntil), stamp(r.CreatedAt), stamp(r.UpdatedAt)
	if !r.EndedAt.IsZero() {
		r.EndedAt = stamp(r.EndedAt)
	}
	r.OverlapUntil = stampOrZero(r.OverlapUntil)
	for i := range r.Steps {
		st := &r.Steps[i]
		st.Stopped, st.Started, st.Running = stampOrZero(st.Stopped), stampOrZero(st.Started), stampOrZero(st.Running)
		st.Deadline, st.Back = stampOrZero(st.Deadline), stampOrZero(st.Back)
	}
	return r
}

func rotationOut(r store.RotationRow) store.RotationRow {
	r.Steps = slices.Clone(r.Steps)
	r.SealedResult = bytes.Clone(r.SealedResult)
	if r.ExposeSecret != nil {
		v := *r.ExposeSecret
		r.ExposeSecret = &v
	}
	return r
}

func (t *tx) InsertRotation(_ context.Context, r store.RotationRow) error {
	if err := t.check(true); err != nil {
		return err
	}
	if _, ok := t.db.Rotations[r.ID]; ok {
		return conflict("rotation %q", r.ID)
	}
	set(t, t.db.Rotations, r.ID, rotationIn(r))
	return nil
}

func (t *tx) GetRotation(_ context.Context, id string) (store.RotationRow, error) {
	if err := t.check(false); err != nil {
		return store.RotationRow{}, err
	}
	r, ok := t.db.Rotations[id]
	if !ok {
		return r, notFound("rotation %q", id)
	}
	return rotationOut(r), nil
}

func (t *tx) UpdateRotation(_ context.Context, r store.RotationRow) error {
	if err := t.check(true); err != nil {
		return err
	}
	if _, ok := t.db.Rotations[r.ID]; !ok {
		return notFound("rotation %q", r.ID)
	}
	set(t, t.db.Rotations, r.ID, rotationIn(r))
	return nil
}

func (t *tx) ListRotations(_ context.Context, f store.RotationFilter) ([]store.RotationRow, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	out := sorted(t.db.Rotations, func(r store.RotationRow) bool {
		return (f.AccountID == "" || r.AccountID == f.AccountID) &&
			(f.IdempotencyKey == "" || r.IdempotencyKey == f.IdempotencyKey) &&
			(!f.ActiveOnly || r.Outcome == "")
	}, func(a, b store.RotationRow) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	for i := range out {
		out[i] = rotationOut(out[i])
	}
	return out, nil
}

func (t *tx) ForgetRotationResultsBefore(_ context.Context, before time.Time) error {
	if err := t.check(true); err != nil {
		return err
	}
	before = stamp(before)
	for id, r := range t.db.Rotations {
		if r.SealedResult != nil && r.CreatedAt.Before(before) {
			r.SealedResult = nil
			set(t, t.db.Rotations, id, r)
		}
	}
	return nil
}

// --- audit ---

// AppendAudit numbers the event one more than the last: events are never
// deleted, so that is the log's length plus one.
func (t *tx) AppendAudit(_ context.Context, e store.AuditRow) (int64, error) {
	if err := t.check(true); err != nil {
		return 0, err
	}
	n := len(t.db.Audit)
	e.Seq = int64(n) + 1
	e.Time = stamp(e.Time)
	t.db.Audit = append(t.db.Audit, e)
	t.undo = append(t.undo, func() { t.db.Audit = t.db.Audit[:n] })
	return e.Seq, nil
}

func (t *tx) ListAudit(_ context.Context, afterSeq int64, limit int) ([]store.AuditRow, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	events := t.db.Audit[min(max(afterSeq, 0), int64(len(t.db.Audit))):]
	if limit > 0 {
		events = events[:min(limit, len(events))]
	}
	return slices.Clone(events), nil
}

func (t *tx) ListAuditPage(_ context.Context, p store.AuditPage) ([]store.AuditRow, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	if p.Limit < 1 {
		return nil, fmt.Errorf("list audit page: limit %d must be at least 1", p.Limit)
	}
	end := int64(len(t.db.Audit))
	if p.BeforeSeq > 0 {
		end = min(end, p.BeforeSeq-1)
	}
	var out []store.AuditRow
	for i := end - 1; i >= 0 && len(out) < p.Limit; i-- {
		e := t.db.Audit[i]
		if p.TargetID != "" && e.TargetID != p.TargetID && !strings.HasPrefix(e.TargetID, p.TargetID+"/") {
			continue
		}
		if p.Action != "" && e.Action != p.Action {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// --- settings ---

func (t *tx) GetSetting(_ context.Context, name string) ([]byte, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	v, ok := t.db.Settings[name]
	if !ok {
		return nil, notFound("setting %q", name)
	}
	return bytes.Clone(v), nil
}

func (t *tx) PutSetting(_ context.Context, name string, value []byte) error {
	if err := t.check(true); err != nil {
		return err
	}
	set(t, t.db.Settings, name, notNil(value))
	return nil
}

// FirstSealedResult returns the sealed result of the oldest rotation that
// keeps one.
func (t *tx) FirstSealedResult(context.Context) ([]byte, error) {
	if err := t.check(false); err != nil {
		return nil, err
	}
	kept := sorted(t.db.Rotations, func(r store.RotationRow) bool { return r.SealedResult != nil },
		func(a, b store.RotationRow) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if len(kept) == 0 {
		return nil, notFound("remembered regenerate result")
	}
	return bytes.Clone(kept[0].SealedResult), nil
}
