package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// GetSetting returns the store-wide setting name (store.ErrNotFound when unset).
func (t *tx) GetSetting(ctx context.Context, name string) ([]byte, error) {
	return one(ctx, t, fmt.Sprintf("setting %q", name), func(r *sql.Rows) ([]byte, error) {
		var v []byte
		err := r.Scan(&v)
		return v, err
	}, `SELECT value FROM settings WHERE name = ?`, name)
}

// PutSetting sets the store-wide setting name.
func (t *tx) PutSetting(ctx context.Context, name string, value []byte) error {
	_, err := t.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, notNil(value))
	if err != nil {
		return fmt.Errorf("put setting %q: %w", name, err)
	}
	return nil
}

// FirstSealedIdempotency returns the sealed secret of one remembered
// regenerate result (store.ErrNotFound when there is none).
func (t *tx) FirstSealedIdempotency(ctx context.Context) ([]byte, error) {
	return one(ctx, t, "remembered regenerate result", func(r *sql.Rows) ([]byte, error) {
		var v []byte
		err := r.Scan(&v)
		return v, err
	}, `SELECT sealed_secret FROM idempotency ORDER BY account_id, idem_key LIMIT 1`)
}
