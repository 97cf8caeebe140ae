package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store/postgres"
)

// postgresExists is a seam like openPostgres.
var postgresExists = postgres.Exists

// Exists reports whether the store named by spec is there (a SQLite file, or
// a PostgreSQL database that holds an apphost schema), creating nothing. The
// error never shows a password.
func Exists(ctx context.Context, spec string) (bool, error) {
	kind, err := parseStore(spec)
	if err != nil {
		return false, &backend.Error{Code: backend.CodeInvalid, Field: "store", Message: err.Error()}
	}
	if kind.sqlitePath != "" {
		_, err := os.Stat(kind.sqlitePath)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, os.ErrNotExist):
			return false, nil
		}
		return false, fmt.Errorf("store %s: %w", kind.sqlitePath, err)
	}
	ok, err := postgresExists(ctx, kind.postgresDSN)
	if err != nil {
		return false, storeError(redactError(err, kind.postgresDSN))
	}
	return ok, nil
}
