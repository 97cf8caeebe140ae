package backendtest_test

import (
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// The embedded backend: the domain in-process over a SQLite file.
func TestEmbeddedSQLite(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) backendtest.Target {
		return backendtest.Embedded(t, backendtest.SQLiteStore(t))
	})
}

// The embedded domain over PostgreSQL.
func TestEmbeddedPostgres(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) backendtest.Target {
		return backendtest.Embedded(t, backendtest.PostgresStore(t))
	})
}

// The HTTP client against a server over SQLite.
func TestRemoteSQLite(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) backendtest.Target {
		return backendtest.Remote(t, backendtest.SQLiteStore(t))
	})
}

// The HTTP client against a server over PostgreSQL.
func TestRemotePostgres(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) backendtest.Target {
		return backendtest.Remote(t, backendtest.PostgresStore(t))
	})
}
