package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Exists reports whether the database at dsn holds an apphost store (its
// schema_version table, in the connection's search path), without creating
// anything: for commands that must not set up a store by mistake.
func Exists(ctx context.Context, dsn string) (bool, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return false, fmt.Errorf("invalid PostgreSQL connection string: %w", err)
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("cannot connect to PostgreSQL at %s: %w", where, classify(err))
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var found bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&found); err != nil {
		return false, fmt.Errorf("PostgreSQL at %s: %w", where, classify(err))
	}
	return found, nil
}
