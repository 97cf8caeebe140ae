package embedded

import (
	"context"

	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/postgres"
)

// openPostgres opens a PostgreSQL store; a seam so tests need no database.
var openPostgres = func(ctx context.Context, dsn string) (store.Store, error) {
	return postgres.Open(ctx, dsn)
}
