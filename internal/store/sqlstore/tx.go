package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

type tx struct {
	s     *Store
	tx    *sql.Tx
	stmts *stmtCache // nil: no statement cache
}

var _ store.Tx = (*tx)(nil)

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q = t.s.rebind(q)
	var res sql.Result
	var err error
	if st := t.stmts.get(q); st != nil {
		res, err = t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		res, err = t.tx.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return nil, t.s.d.Classify(err)
	}
	return res, nil
}

// execOne is exec for statements that must touch a row; none is ErrNotFound.
func (t *tx) execOne(ctx context.Context, what string, q string, args ...any) error {
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.s.d.Classify(err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = t.s.rebind(q)
	var rows *sql.Rows
	var err error
	if st := t.stmts.get(q); st != nil {
		rows, err = t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	} else {
		rows, err = t.tx.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, t.s.d.Classify(err)
	}
	return rows, nil
}

// scanRows collects rows with scan, classifying iteration errors.
func scanRows[T any](t *tx, rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer func() { _ = rows.Close() }()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, t.s.d.Classify(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, t.s.d.Classify(err)
	}
	return out, nil
}

// all returns every row of a query.
func all[T any](ctx context.Context, t *tx, scan func(*sql.Rows) (T, error), q string, args ...any) ([]T, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanRows(t, rows, scan)
}

// one returns the first row of a query, or ErrNotFound naming what.
func one[T any](ctx context.Context, t *tx, what string, scan func(*sql.Rows) (T, error), q string, args ...any) (T, error) {
	var zero T
	out, err := all(ctx, t, scan, q, args...)
	if err != nil {
		return zero, err
	}
	if len(out) == 0 {
		return zero, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return out[0], nil
}

// nullIfEmpty stores "" as NULL, for optional references.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// notNil stores a nil slice as empty in NOT NULL columns.
func notNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// --- accounts ---

const accountCols = `id, name, description, secret_hash, admin, secret_version, secret_created_at, locked, failed_login_attempts, created_at, updated_at, expose_secret, sealed_secret, app_host, previous_secrets,
	rotation_strategy, overlap_period_ms, pending_secret_hash, pending_sealed_secret`

func scanAccount(r *sql.Rows) (store.AccountRow, error) {
	var a store.AccountRow
	var previous string
	var overlapMS int64
	err := r.Scan(&a.ID, &a.Name, &a.Description, &a.SecretHash, &a.Admin, &a.SecretVersion,
		timeCol{&a.SecretCreatedAt}, &a.Locked, &a.FailedLoginAttempts, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt},
		&a.ExposeSecret, &a.SealedSecret, &a.AppHost, &previous,
		&a.RotationStrategy, &overlapMS, &a.PendingSecretHash, &a.PendingSealedSecret)
	if err != nil {
		return a, err
	}
	a.OverlapPeriod = time.Duration(overlapMS) * time.Millisecond
	if err := decodeJSONColumn(previous, &a.PreviousSecrets, "account", a.ID, "previous_secrets"); err != nil {
		return a, err
	}
	if len(a.PreviousSecrets) == 0 {
		a.PreviousSecrets = nil
	}
	return a, nil
}

// decodeJSONColumn reads a JSON column of row id into v.
func decodeJSONColumn(raw string, v any, what, id, column string) error {
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("%s %q: stored %s: %w", what, id, column, err)
	}
	return nil
}

// encodeJSONColumn is the JSON of v for a NOT NULL column (empty: empty).
func encodeJSONColumn(v any, empty string) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return empty
	}
	return string(b)
}

func (t *tx) InsertAccount(ctx context.Context, a store.AccountRow) error {
	_, err := t.exec(ctx, `INSERT INTO accounts (`+accountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.Description, notNil(a.SecretHash), a.Admin, a.SecretVersion,
		t.s.encodeTime(a.SecretCreatedAt), a.Locked, a.FailedLoginAttempts,
		t.s.encodeTime(a.CreatedAt), t.s.encodeTime(a.UpdatedAt), a.ExposeSecret, a.SealedSecret,
		a.AppHost, encodeJSONColumn(a.PreviousSecrets, "[]"),
		a.RotationStrategy, a.OverlapPeriod.Milliseconds(), a.PendingSecretHash, a.PendingSealedSecret)
	if err != nil {
		return fmt.Errorf("insert account %q: %w", a.Name, err)
	}
	return nil
}

func (t *tx) GetAccountByAppHost(ctx context.Context, name string) (store.AccountRow, error) {
	return one(ctx, t, fmt.Sprintf("App Host account of %q", name), scanAccount,
		`SELECT `+accountCols+` FROM accounts WHERE app_host = ? AND app_host <> ''`, name)
}

func (t *tx) GetAccount(ctx context.Context, id string) (store.AccountRow, error) {
	return one(ctx, t, fmt.Sprintf("account %q", id), scanAccount,
		`SELECT `+accountCols+` FROM accounts WHERE id = ?`, id)
}

func (t *tx) GetAccountByName(ctx context.Context, name string) (store.AccountRow, error) {
	return one(ctx, t, fmt.Sprintf("account named %q", name), scanAccount,
		`SELECT `+accountCols+` FROM accounts WHERE name = ?`, name)
}

func (t *tx) ListAccounts(ctx context.Context) ([]store.AccountRow, error) {
	return all(ctx, t, scanAccount, `SELECT `+accountCols+` FROM accounts ORDER BY name`)
}

func (t *tx) ListAccountsPage(ctx context.Context, afterName string, limit int) ([]store.AccountRow, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list accounts page: limit %d must be at least 1", limit)
	}
	return all(ctx, t, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE name > ? ORDER BY name LIMIT ?`, afterName, limit)
}

func (t *tx) UpdateAccount(ctx context.Context, a store.AccountRow) error {
	err := t.execOne(ctx, fmt.Sprintf("account %q", a.ID), `UPDATE accounts SET
		name = ?, description = ?, secret_hash = ?, admin = ?, secret_version = ?, secret_created_at = ?,
		locked = ?, failed_login_attempts = ?, created_at = ?, updated_at = ?, expose_secret = ?, sealed_secret = ?,
		app_host = ?, previous_secrets = ?, rotation_strategy = ?, overlap_period_ms = ?, pending_secret_hash = ?,
		pending_sealed_secret = ?
		WHERE id = ?`,
		a.Name, a.Description, notNil(a.SecretHash), a.Admin, a.SecretVersion, t.s.encodeTime(a.SecretCreatedAt),
		a.Locked, a.FailedLoginAttempts, t.s.encodeTime(a.CreatedAt), t.s.encodeTime(a.UpdatedAt),
		a.ExposeSecret, a.SealedSecret, a.AppHost, encodeJSONColumn(a.PreviousSecrets, "[]"),
		a.RotationStrategy, a.OverlapPeriod.Milliseconds(), a.PendingSecretHash, a.PendingSealedSecret, a.ID)
	if err != nil {
		return fmt.Errorf("update account: %w", err)
	}
	return nil
}

// DeleteAccount unbinds secrets and drops an older store's idempotency
// results itself rather than relying on the foreign keys' actions alone.
func (t *tx) DeleteAccount(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, `UPDATE app_secrets SET account_id = NULL WHERE account_id = ?`, id); err != nil {
		return fmt.Errorf("delete account %q: unbind app secrets: %w", id, err)
	}
	if _, err := t.exec(ctx, `DELETE FROM idempotency WHERE account_id = ?`, id); err != nil {
		return fmt.Errorf("delete account %q: idempotency results: %w", id, err)
	}
	if err := t.execOne(ctx, fmt.Sprintf("account %q", id), `DELETE FROM accounts WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	return nil
}

// --- apps ---

const appCols = `id, name, app_host, version, config, deployed, status, created_at, updated_at,
	paused, status_detail, held_by, secret_names, command, stop_timeout_ms, start_timeout_ms, reload_signal,
	generation, paused_at, observed, reload`

func scanApp(r *sql.Rows) (store.AppRow, error) {
	var a store.AppRow
	var config, secretNames, command, observed string
	var stopMS, startMS int64
	err := r.Scan(&a.ID, &a.Name, &a.AppHost, &a.Version, &config, &a.Deployed, &a.Status,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, &a.Paused, &a.StatusDetail, &a.HeldBy, &secretNames,
		&command, &stopMS, &startMS, &a.ReloadSignal, &a.Generation, timeCol{&a.PausedAt}, &observed, &a.Reload)
	if err != nil {
		return a, err
	}
	a.StopTimeout, a.StartTimeout = time.Duration(stopMS)*time.Millisecond, time.Duration(startMS)*time.Millisecond
	if err := decodeJSONColumn(command, &a.Command, "app", a.ID, "command"); err != nil {
		return a, err
	}
	if len(a.Command) == 0 {
		a.Command = nil
	}
	if err := decodeJSONColumn(observed, &a.Observed, "app", a.ID, "observed"); err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(config), &a.Config); err != nil {
		return a, fmt.Errorf("app %q: stored config: %w", a.ID, err)
	}
	if a.Config == nil {
		a.Config = map[string]string{}
	}
	if err := json.Unmarshal([]byte(secretNames), &a.SecretNames); err != nil {
		return a, fmt.Errorf("app %q: stored secret_names: %w", a.ID, err)
	}
	if len(a.SecretNames) == 0 {
		a.SecretNames = nil
	}
	return a, nil
}

// encodeNames stores a list of names as a JSON array ("[]" for none).
func encodeNames(names []string) string {
	if len(names) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(names) // []string always encodes
	return string(b)
}

func encodeConfig(c map[string]string) (string, error) {
	if c == nil {
		return "{}", nil
	}
	b, err := json.Marshal(c)
	return string(b), err
}

func (t *tx) InsertApp(ctx context.Context, a store.AppRow) error {
	config, err := encodeConfig(a.Config)
	if err != nil {
		return fmt.Errorf("insert app %q: %w", a.Name, err)
	}
	_, err = t.exec(ctx, `INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.AppHost, a.Version, config, a.Deployed, a.Status,
		t.s.encodeTime(a.CreatedAt), t.s.encodeTime(a.UpdatedAt),
		a.Paused, a.StatusDetail, a.HeldBy, encodeNames(a.SecretNames),
		encodeNames(a.Command), a.StopTimeout.Milliseconds(), a.StartTimeout.Milliseconds(), a.ReloadSignal,
		a.Generation, t.s.encodeOptionalTime(a.PausedAt), encodeJSONColumn(a.Observed, "{}"), a.Reload)
	if err != nil {
		return fmt.Errorf("insert app %q: %w", a.Name, err)
	}
	return nil
}

func (t *tx) GetApp(ctx context.Context, id string) (store.AppRow, error) {
	return one(ctx, t, fmt.Sprintf("app %q", id), scanApp,
		`SELECT `+appCols+` FROM apps WHERE id = ?`, id)
}

func (t *tx) GetAppByName(ctx context.Context, name string) (store.AppRow, error) {
	return one(ctx, t, fmt.Sprintf("app named %q", name), scanApp,
		`SELECT `+appCols+` FROM apps WHERE name = ?`, name)
}

func (t *tx) ListApps(ctx context.Context) ([]store.AppRow, error) {
	return all(ctx, t, scanApp, `SELECT `+appCols+` FROM apps ORDER BY name`)
}

func (t *tx) ListAppsPage(ctx context.Context, afterName string, limit int) ([]store.AppRow, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list apps page: limit %d must be at least 1", limit)
	}
	return all(ctx, t, scanApp, `SELECT `+appCols+` FROM apps WHERE name > ? ORDER BY name LIMIT ?`, afterName, limit)
}

func (t *tx) ListAppsOnHost(ctx context.Context, name string) ([]store.AppRow, error) {
	return all(ctx, t, scanApp, `SELECT `+appCols+` FROM apps WHERE app_host = ? ORDER BY name`, name)
}

func (t *tx) ListAppsBoundTo(ctx context.Context, accountID string) ([]store.AppRow, error) {
	return all(ctx, t, scanApp, `SELECT `+appCols+` FROM apps
		WHERE id IN (SELECT app_id FROM app_secrets WHERE account_id = ?) ORDER BY name`, accountID)
}

func (t *tx) UpdateApp(ctx context.Context, a store.AppRow) error {
	config, err := encodeConfig(a.Config)
	if err != nil {
		return fmt.Errorf("update app %q: %w", a.ID, err)
	}
	err = t.execOne(ctx, fmt.Sprintf("app %q", a.ID), `UPDATE apps SET
		name = ?, app_host = ?, version = ?, config = ?, deployed = ?, status = ?, created_at = ?, updated_at = ?,
		paused = ?, status_detail = ?, held_by = ?, secret_names = ?, command = ?, stop_timeout_ms = ?,
		start_timeout_ms = ?, reload_signal = ?, generation = ?, paused_at = ?, observed = ?, reload = ?
		WHERE id = ?`,
		a.Name, a.AppHost, a.Version, config, a.Deployed, a.Status,
		t.s.encodeTime(a.CreatedAt), t.s.encodeTime(a.UpdatedAt),
		a.Paused, a.StatusDetail, a.HeldBy, encodeNames(a.SecretNames),
		encodeNames(a.Command), a.StopTimeout.Milliseconds(), a.StartTimeout.Milliseconds(), a.ReloadSignal,
		a.Generation, t.s.encodeOptionalTime(a.PausedAt), encodeJSONColumn(a.Observed, "{}"), a.Reload, a.ID)
	if err != nil {
		return fmt.Errorf("update app: %w", err)
	}
	return nil
}

// DeleteApp deletes the secrets itself too, not only by ON DELETE CASCADE.
func (t *tx) DeleteApp(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, `DELETE FROM app_secrets WHERE app_id = ?`, id); err != nil {
		return fmt.Errorf("delete app %q: secrets: %w", id, err)
	}
	if err := t.execOne(ctx, fmt.Sprintf("app %q", id), `DELETE FROM apps WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete app: %w", err)
	}
	return nil
}

// --- app secrets ---

const secretSelect = `SELECT s.app_id, s.name, s.account_id, s.ciphertext, s.updated_at, a.name, s.login_version, s.login_at,
	s.pending_version
	FROM app_secrets s JOIN apps a ON a.id = s.app_id`

func scanSecret(r *sql.Rows) (store.AppSecretRow, error) {
	var s store.AppSecretRow
	var account sql.NullString
	err := r.Scan(&s.AppID, &s.Name, &account, &s.Ciphertext, timeCol{&s.UpdatedAt}, &s.AppName, &s.LoginVersion, timeCol{&s.LoginAt},
		&s.PendingVersion)
	s.AccountID = account.String
	return s, err
}

func (t *tx) PutAppSecret(ctx context.Context, s store.AppSecretRow) error {
	_, err := t.exec(ctx, `INSERT INTO app_secrets (app_id, name, account_id, ciphertext, updated_at, login_version, login_at,
			pending_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (app_id, name) DO UPDATE SET
			account_id = excluded.account_id, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at,
			login_version = excluded.login_version, login_at = excluded.login_at, pending_version = excluded.pending_version`,
		s.AppID, s.Name, nullIfEmpty(s.AccountID), s.Ciphertext, t.s.encodeTime(s.UpdatedAt),
		s.LoginVersion, t.s.encodeOptionalTime(s.LoginAt), s.PendingVersion)
	if err != nil {
		return fmt.Errorf("put app secret %q of app %q: %w", s.Name, s.AppID, err)
	}
	return nil
}

func (t *tx) GetAppSecret(ctx context.Context, appID, name string) (store.AppSecretRow, error) {
	return one(ctx, t, fmt.Sprintf("app secret %q of app %q", name, appID), scanSecret,
		secretSelect+` WHERE s.app_id = ? AND s.name = ?`, appID, name)
}

func (t *tx) ListAppSecrets(ctx context.Context, f store.AppSecretFilter) ([]store.AppSecretRow, error) {
	var where []string
	var args []any
	if f.AppID != "" {
		where = append(where, `s.app_id = ?`)
		args = append(args, f.AppID)
	}
	if f.AccountID != "" {
		where = append(where, `s.account_id = ?`)
		args = append(args, f.AccountID)
	}
	if f.OfAppsBoundTo != "" {
		where = append(where, `s.app_id IN (SELECT app_id FROM app_secrets WHERE account_id = ?)`)
		args = append(args, f.OfAppsBoundTo)
	}
	if len(f.AppIDs) > 0 {
		where = append(where, `s.app_id IN (`+placeholders(len(f.AppIDs))+`)`)
		for _, id := range f.AppIDs {
			args = append(args, id)
		}
	}
	if len(f.AccountIDs) > 0 {
		where = append(where, `s.account_id IN (`+placeholders(len(f.AccountIDs))+`)`)
		for _, id := range f.AccountIDs {
			args = append(args, id)
		}
	}
	q := secretSelect
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return all(ctx, t, scanSecret, q+` ORDER BY a.name, s.name`, args...)
}

// placeholders is "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func (t *tx) DeleteAppSecret(ctx context.Context, appID, name string) error {
	return t.execOne(ctx, fmt.Sprintf("app secret %q of app %q", name, appID),
		`DELETE FROM app_secrets WHERE app_id = ? AND name = ?`, appID, name)
}

// --- app hosts ---

const appHostCols = `name, instance_id, session_id, address, version, driver, revision, applied_revision, forgotten,
	connected_at, last_report, offline_at`

func scanAppHost(r *sql.Rows) (store.AppHostRow, error) {
	var h store.AppHostRow
	err := r.Scan(&h.Name, &h.InstanceID, &h.SessionID, &h.Address, &h.Version, &h.Driver, &h.Revision,
		&h.AppliedRevision, &h.Forgotten, timeCol{&h.ConnectedAt}, timeCol{&h.LastReport}, timeCol{&h.OfflineAt})
	return h, err
}

func (t *tx) GetAppHost(ctx context.Context, name string) (store.AppHostRow, error) {
	return one(ctx, t, fmt.Sprintf("App Host %q", name), scanAppHost,
		`SELECT `+appHostCols+` FROM app_hosts WHERE name = ?`, name)
}

func (t *tx) ListAppHosts(ctx context.Context) ([]store.AppHostRow, error) {
	return all(ctx, t, scanAppHost, `SELECT `+appHostCols+` FROM app_hosts ORDER BY name`)
}

func (t *tx) PutAppHost(ctx context.Context, h store.AppHostRow) error {
	_, err := t.exec(ctx, `INSERT INTO app_hosts (`+appHostCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			instance_id = excluded.instance_id, session_id = excluded.session_id, address = excluded.address,
			version = excluded.version, driver = excluded.driver, revision = excluded.revision,
			applied_revision = excluded.applied_revision, forgotten = excluded.forgotten,
			connected_at = excluded.connected_at, last_report = excluded.last_report, offline_at = excluded.offline_at`,
		h.Name, h.InstanceID, h.SessionID, h.Address, h.Version, h.Driver, h.Revision, h.AppliedRevision, h.Forgotten,
		t.s.encodeOptionalTime(h.ConnectedAt), t.s.encodeOptionalTime(h.LastReport), t.s.encodeOptionalTime(h.OfflineAt))
	if err != nil {
		return fmt.Errorf("put App Host %q: %w", h.Name, err)
	}
	return nil
}

// --- rotations ---

const rotationCols = `id, account_id, account_name, strategy, reason, triggers_hash, idem_key, request_hash,
	expose_secret, from_version, to_version, state, outcome, error, owner, lease_until, rev, steps, sealed_result,
	created_at, updated_at, ended_at, overlap_until`

func scanRotation(r *sql.Rows) (store.RotationRow, error) {
	var x store.RotationRow
	var expose, steps string
	err := r.Scan(&x.ID, &x.AccountID, &x.AccountName, &x.Strategy, &x.Reason, &x.TriggersHash, &x.IdempotencyKey,
		&x.RequestHash, &expose, &x.FromVersion, &x.ToVersion, &x.State, &x.Outcome, &x.Error, &x.Owner,
		timeCol{&x.LeaseUntil}, &x.Rev, &steps, &x.SealedResult, timeCol{&x.CreatedAt}, timeCol{&x.UpdatedAt},
		timeCol{&x.EndedAt}, // NULL while active: the zero time
		timeCol{&x.OverlapUntil})
	if err != nil {
		return x, err
	}
	switch expose {
	case "true", "false":
		v := expose == "true"
		x.ExposeSecret = &v
	}
	if err := json.Unmarshal([]byte(steps), &x.Steps); err != nil {
		return x, fmt.Errorf("rotation %q: stored steps: %w", x.ID, err)
	}
	return x, nil
}

// rotationArgs are the values of rotationCols, in order.
func (t *tx) rotationArgs(x store.RotationRow) ([]any, error) {
	steps, err := json.Marshal(x.Steps)
	if err != nil {
		return nil, fmt.Errorf("rotation %q: steps: %w", x.ID, err)
	}
	if x.Steps == nil {
		steps = []byte("[]")
	}
	expose := ""
	if x.ExposeSecret != nil {
		expose = fmt.Sprint(*x.ExposeSecret)
	}
	ended := t.s.encodeOptionalTime(x.EndedAt)
	return []any{x.ID, x.AccountID, x.AccountName, x.Strategy, x.Reason, x.TriggersHash, x.IdempotencyKey,
		x.RequestHash, expose, x.FromVersion, x.ToVersion, x.State, x.Outcome, x.Error, x.Owner,
		t.s.encodeTime(x.LeaseUntil), x.Rev, string(steps), x.SealedResult,
		t.s.encodeTime(x.CreatedAt), t.s.encodeTime(x.UpdatedAt), ended, t.s.encodeOptionalTime(x.OverlapUntil)}, nil
}

func (t *tx) InsertRotation(ctx context.Context, x store.RotationRow) error {
	args, err := t.rotationArgs(x)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO rotations (`+rotationCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return fmt.Errorf("insert rotation %q: %w", x.ID, err)
	}
	return nil
}

func (t *tx) GetRotation(ctx context.Context, id string) (store.RotationRow, error) {
	return one(ctx, t, fmt.Sprintf("rotation %q", id), scanRotation,
		`SELECT `+rotationCols+` FROM rotations WHERE id = ?`, id)
}

func (t *tx) UpdateRotation(ctx context.Context, x store.RotationRow) error {
	args, err := t.rotationArgs(x)
	if err != nil {
		return err
	}
	err = t.execOne(ctx, fmt.Sprintf("rotation %q", x.ID), `UPDATE rotations SET
		id = ?, account_id = ?, account_name = ?, strategy = ?, reason = ?, triggers_hash = ?, idem_key = ?,
		request_hash = ?, expose_secret = ?, from_version = ?, to_version = ?, state = ?, outcome = ?, error = ?,
		owner = ?, lease_until = ?, rev = ?, steps = ?, sealed_result = ?, created_at = ?, updated_at = ?, ended_at = ?,
		overlap_until = ?
		WHERE id = ?`, append(args, x.ID)...)
	if err != nil {
		return fmt.Errorf("update rotation: %w", err)
	}
	return nil
}

func (t *tx) ListRotations(ctx context.Context, f store.RotationFilter) ([]store.RotationRow, error) {
	where := []string{`1 = 1`}
	var args []any
	if f.AccountID != "" {
		where = append(where, `account_id = ?`)
		args = append(args, f.AccountID)
	}
	if f.IdempotencyKey != "" {
		where = append(where, `idem_key = ?`)
		args = append(args, f.IdempotencyKey)
	}
	if f.ActiveOnly {
		where = append(where, `outcome = ''`)
	}
	q := `SELECT ` + rotationCols + ` FROM rotations WHERE ` + strings.Join(where, ` AND `) +
		` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanRows(t, rows, scanRotation)
}

func (t *tx) ForgetRotationResultsBefore(ctx context.Context, before time.Time) error {
	_, err := t.exec(ctx, `UPDATE rotations SET sealed_result = NULL WHERE created_at < ? AND sealed_result IS NOT NULL`,
		t.s.encodeTime(before))
	if err != nil {
		return fmt.Errorf("forget old rotation results: %w", err)
	}
	return nil
}

// --- audit ---

const auditCols = `seq, event_time, actor, action, target_type, target_id, target_name, detail`

// AppendAudit takes max+1: every write holds the database's write lock, so
// no other transaction can take the same number or commit in between.
func (t *tx) AppendAudit(ctx context.Context, e store.AuditRow) (int64, error) {
	seq, err := one(ctx, t, "next audit sequence number", func(r *sql.Rows) (int64, error) {
		var seq int64
		err := r.Scan(&seq)
		return seq, err
	}, `SELECT COALESCE(MAX(seq), 0) + 1 FROM audit`)
	if err != nil {
		return 0, fmt.Errorf("append audit event: %w", err)
	}
	return seq, t.insertAudit(ctx, seq, e)
}

// insertAudit stores e with sequence number seq.
func (t *tx) insertAudit(ctx context.Context, seq int64, e store.AuditRow) error {
	_, err := t.exec(ctx, `INSERT INTO audit (`+auditCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		seq, t.s.encodeTime(e.Time), e.Actor, e.Action, e.TargetType, e.TargetID, e.TargetName, e.Detail)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

func (t *tx) ListAudit(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRow, error) {
	q := `SELECT ` + auditCols + `
		FROM audit WHERE seq > ? ORDER BY seq`
	args := []any{afterSeq}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return all(ctx, t, scanAudit, q, args...)
}

func scanAudit(r *sql.Rows) (store.AuditRow, error) {
	var e store.AuditRow
	err := r.Scan(&e.Seq, timeCol{&e.Time}, &e.Actor, &e.Action, &e.TargetType, &e.TargetID, &e.TargetName, &e.Detail)
	return e, err
}

// ListAuditPage walks the log backwards from BeforeSeq on the primary key,
// so a page costs the same however long the log is (a filter scans back
// until it has found a page).
func (t *tx) ListAuditPage(ctx context.Context, p store.AuditPage) ([]store.AuditRow, error) {
	if p.Limit < 1 {
		return nil, fmt.Errorf("list audit page: limit %d must be at least 1", p.Limit)
	}
	where := []string{`1 = 1`}
	var args []any
	if p.BeforeSeq > 0 {
		where = append(where, `seq < ?`)
		args = append(args, p.BeforeSeq)
	}
	if p.TargetID != "" {
		// The prefix test is substr, not LIKE (an ID holding % or _ matches
		// only itself) nor a range (collations order '/' differently).
		prefix := p.TargetID + "/"
		where = append(where, `(target_id = ? OR substr(target_id, 1, ?) = ?)`)
		args = append(args, p.TargetID, utf8.RuneCountInString(prefix), prefix)
	}
	if p.Action != "" {
		where = append(where, `action = ?`)
		args = append(args, p.Action)
	}
	args = append(args, p.Limit)
	return all(ctx, t, scanAudit, `SELECT `+auditCols+`
		FROM audit WHERE `+strings.Join(where, ` AND `)+` ORDER BY seq DESC LIMIT ?`, args...)
}
