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

// FirstSealedResult returns the sealed secret of one remembered regenerate
// result: a rotation's, or one of the idempotency table of older stores
// (store.ErrNotFound when there is none).
func (t *tx) FirstSealedResult(ctx context.Context) ([]byte, error) {
	return one(ctx, t, "remembered regenerate result", func(r *sql.Rows) ([]byte, error) {
		var v []byte
		err := r.Scan(&v)
		return v, err
	}, `SELECT v FROM (
		SELECT sealed_secret AS v, 0 AS k FROM idempotency
		UNION ALL SELECT sealed_result, 1 FROM rotations WHERE sealed_result IS NOT NULL
	) AS sealed ORDER BY k LIMIT 1`)
}
