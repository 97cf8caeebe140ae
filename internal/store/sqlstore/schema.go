package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// migrations[i] takes the schema from version i to i+1. Append only: a
// released migration never changes. Type names in capitals with a _T suffix
// are replaced by the dialect's types.
var migrations = [][]string{
	{
		`CREATE TABLE accounts (
			id TEXT PRIMARY KEY,
			name NAME_T NOT NULL CONSTRAINT accounts_name_key UNIQUE,
			description TEXT NOT NULL,
			secret_hash BLOB_T NOT NULL,
			admin BOOL_T NOT NULL,
			secret_version BIGINT NOT NULL,
			secret_created_at TIME_T NOT NULL,
			locked BOOL_T NOT NULL,
			failed_login_attempts BIGINT NOT NULL,
			created_at TIME_T NOT NULL,
			updated_at TIME_T NOT NULL
		)`,
		`CREATE TABLE apps (
			id TEXT PRIMARY KEY,
			name NAME_T NOT NULL CONSTRAINT apps_name_key UNIQUE,
			app_host TEXT NOT NULL,
			version TEXT NOT NULL,
			config TEXT NOT NULL,
			deployed BOOL_T NOT NULL,
			status TEXT NOT NULL,
			created_at TIME_T NOT NULL,
			updated_at TIME_T NOT NULL
		)`,
		// account_id is nullable (unbound secret). ON DELETE SET NULL keeps a
		// DeleteAccount from failing on secrets the domain did not remove.
		`CREATE TABLE app_secrets (
			app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
			name NAME_T NOT NULL,
			account_id TEXT REFERENCES accounts (id) ON DELETE SET NULL,
			ciphertext BLOB_T,
			updated_at TIME_T NOT NULL,
			PRIMARY KEY (app_id, name)
		)`,
		`CREATE INDEX app_secrets_account_id ON app_secrets (account_id)`,
		`CREATE TABLE idempotency (
			account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
			idem_key TEXT NOT NULL,
			sealed_secret BLOB_T NOT NULL,
			secret_version BIGINT NOT NULL,
			created_at TIME_T NOT NULL,
			PRIMARY KEY (account_id, idem_key)
		)`,
		`CREATE INDEX idempotency_created_at ON idempotency (created_at)`,
		// seq is assigned as max+1 under the write lock, so it has no gaps
		// and follows commit order.
		`CREATE TABLE audit (
			seq BIGINT PRIMARY KEY,
			event_time TIME_T NOT NULL,
			actor TEXT NOT NULL,
			action TEXT NOT NULL,
			target_type TEXT NOT NULL,
			target_id TEXT NOT NULL,
			target_name TEXT NOT NULL,
			detail TEXT NOT NULL
		)`,
	},
	{
		// One-operation rotation: whether responses may carry the secret, and
		// the current secret sealed so that bound app secrets can be filled.
		// Accounts from older stores have no sealed copy until their next
		// regeneration.
		`ALTER TABLE accounts ADD COLUMN expose_secret BOOL_T NOT NULL DEFAULT TRUE`,
		`ALTER TABLE accounts ADD COLUMN sealed_secret BLOB_T`,
	},
	// Store-wide settings: the sealing key's check value ("key_check"), so
	// that every process on the store must hold the same key.
	{
		`CREATE TABLE settings (
			name TEXT PRIMARY KEY,
			value BLOB_T NOT NULL
		)`,
	},
	// Durable rotations: rotations as objects driven step by step under a
	// lease, apps held by them, paused while their secrets change, with the
	// secrets they need before they start.
	{
		`ALTER TABLE apps ADD COLUMN paused BOOL_T NOT NULL DEFAULT FALSE`,
		`ALTER TABLE apps ADD COLUMN status_detail TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE apps ADD COLUMN held_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE apps ADD COLUMN secret_names TEXT NOT NULL DEFAULT '[]'`,
		`CREATE TABLE rotations (
			id TEXT PRIMARY KEY,
			account_id TEXT NOT NULL,
			account_name TEXT NOT NULL,
			strategy TEXT NOT NULL,
			reason TEXT NOT NULL,
			triggers_hash TEXT NOT NULL,
			idem_key TEXT NOT NULL,
			request_hash TEXT NOT NULL,
			expose_secret TEXT NOT NULL,
			from_version BIGINT NOT NULL,
			to_version BIGINT NOT NULL,
			state TEXT NOT NULL,
			outcome TEXT NOT NULL,
			error TEXT NOT NULL,
			owner TEXT NOT NULL,
			lease_until TIME_T NOT NULL,
			rev BIGINT NOT NULL,
			steps TEXT NOT NULL,
			sealed_result BLOB_T,
			created_at TIME_T NOT NULL,
			updated_at TIME_T NOT NULL,
			ended_at TIME_T
		)`,
		`CREATE INDEX rotations_account ON rotations (account_id, created_at)`,
		`CREATE INDEX rotations_idem_key ON rotations (idem_key)`,
		`CREATE INDEX rotations_outcome ON rotations (outcome)`,
	},
	// Real App Hosts: App Host accounts, what an app runs (its command and
	// timeouts) and what its host reports, the last proven login of each
	// bound secret, the hashes of previous secrets (a stale copy counts
	// toward the lockout), and the App Hosts' sessions.
	{
		`ALTER TABLE accounts ADD COLUMN app_host TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE accounts ADD COLUMN previous_secrets TEXT NOT NULL DEFAULT '[]'`,
		`CREATE UNIQUE INDEX accounts_app_host ON accounts (app_host) WHERE app_host <> ''`,
		`ALTER TABLE apps ADD COLUMN command TEXT NOT NULL DEFAULT '[]'`,
		`ALTER TABLE apps ADD COLUMN stop_timeout_ms BIGINT NOT NULL DEFAULT 10000`,
		`ALTER TABLE apps ADD COLUMN start_timeout_ms BIGINT NOT NULL DEFAULT 60000`,
		`ALTER TABLE apps ADD COLUMN reload_signal TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE apps ADD COLUMN generation BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE apps ADD COLUMN paused_at TIME_T`,
		`ALTER TABLE apps ADD COLUMN observed TEXT NOT NULL DEFAULT '{}'`,
		`ALTER TABLE app_secrets ADD COLUMN login_version BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE app_secrets ADD COLUMN login_at TIME_T`,
		`CREATE TABLE app_hosts (
			name NAME_T PRIMARY KEY,
			instance_id TEXT NOT NULL,
			session_id TEXT NOT NULL,
			address TEXT NOT NULL,
			version TEXT NOT NULL,
			driver TEXT NOT NULL,
			revision BIGINT NOT NULL,
			applied_revision BIGINT NOT NULL,
			forgotten BOOL_T NOT NULL,
			connected_at TIME_T,
			last_report TIME_T,
			offline_at TIME_T
		)`,
	},
	// Overlap rotations: each account's rotation strategy and overlap
	// period, the pending secret of an overlap rotation under way, which
	// app secrets hold it, the apps whose change is a reload of their
	// secrets, and the bound of a rotation's move.
	{
		`ALTER TABLE accounts ADD COLUMN rotation_strategy TEXT NOT NULL DEFAULT 'stop_first'`,
		`ALTER TABLE accounts ADD COLUMN overlap_period_ms BIGINT NOT NULL DEFAULT 900000`,
		`ALTER TABLE accounts ADD COLUMN pending_secret_hash BLOB_T`,
		`ALTER TABLE accounts ADD COLUMN pending_sealed_secret BLOB_T`,
		`ALTER TABLE apps ADD COLUMN reload BOOL_T NOT NULL DEFAULT FALSE`,
		`ALTER TABLE app_secrets ADD COLUMN pending_version BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE rotations ADD COLUMN overlap_until TIME_T`,
	},
}

// SchemaVersion is the schema version this program writes.
var SchemaVersion = len(migrations)

// migrate brings the schema up to SchemaVersion inside one write transaction,
// so concurrent openers take turns and a failed step changes nothing.
func (s *Store) migrate(ctx context.Context) error {
	types := strings.NewReplacer(
		"NAME_T", s.d.NameType, "BLOB_T", s.d.BlobType,
		"BOOL_T", s.d.BoolType, "TIME_T", s.d.TimeType,
	)
	sqlTx, err := s.d.BeginWrite(ctx, s.write)
	if err != nil {
		return fmt.Errorf("open %s database: %w", s.d.Name, s.d.Classify(err))
	}
	defer func() { _ = sqlTx.Rollback() }()

	if _, err := sqlTx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version table: %w", s.d.Classify(err))
	}
	var version int
	err = sqlTx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := sqlTx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("initialize schema_version: %w", s.d.Classify(err))
		}
	case err != nil:
		return fmt.Errorf("read schema version: %w", s.d.Classify(err))
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: the %s database is at schema version %d, this program knows versions up to %d; upgrade terraform-provider-apphost to a version that knows it",
			store.ErrSchemaNewer, s.d.Name, version, SchemaVersion)
	}
	if version == SchemaVersion {
		return nil
	}
	for v := version; v < SchemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := sqlTx.ExecContext(ctx, types.Replace(stmt)); err != nil {
				return fmt.Errorf("migrate %s schema to version %d: %w", s.d.Name, v+1, s.d.Classify(err))
			}
		}
	}
	if _, err := sqlTx.ExecContext(ctx, s.rebind(`UPDATE schema_version SET version = ?`), SchemaVersion); err != nil {
		return fmt.Errorf("record schema version: %w", s.d.Classify(err))
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit %s schema migration: %w", s.d.Name, s.d.Classify(err))
	}
	return nil
}
