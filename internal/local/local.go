// Package local opens the backend that runs in this process: the admin
// domain over a store named by a --store string (or the provider's
// store_path), with the key file that seals its app secret values.
package local

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

// Environment variables read for defaults.
const (
	EnvStorePath = "APPHOST_STORE_PATH"
	EnvKeyFile   = "APPHOST_KEY_FILE"
)

// Defaults when nothing is configured.
const (
	DefaultStorePath = ".apphost/apphost.db"
	// DefaultPostgresKeyFile is the key file of a PostgreSQL store, which has
	// no file of its own to sit beside.
	DefaultPostgresKeyFile = ".apphost/apphost.key"
)

// Config says which store to open.
type Config struct {
	// Store is "sqlite:PATH" or a "postgres://" / "postgresql://" URL; ""
	// means DefaultStore().
	Store string
	// KeyFile is the key file; "" means PATH+".key" for SQLite, and
	// $APPHOST_KEY_FILE else DefaultPostgresKeyFile for PostgreSQL.
	KeyFile string
	// LockoutThreshold: see backend.Options.
	LockoutThreshold int
}

// DefaultStore is "sqlite:" + $APPHOST_STORE_PATH, else "sqlite:.apphost/apphost.db".
func DefaultStore() string {
	if p := os.Getenv(EnvStorePath); p != "" {
		return "sqlite:" + p
	}
	return "sqlite:" + DefaultStorePath
}

// storeKind is a parsed Store string.
type storeKind struct {
	sqlitePath  string // set for SQLite
	postgresDSN string // set for PostgreSQL
}

// parseStore never puts a DSN in its errors: it may hold a password.
func parseStore(s string) (storeKind, error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(s, "sqlite:")
		// Accept sqlite:///abs/path and sqlite://rel too, as people write URLs.
		p = strings.TrimPrefix(p, "//")
		if p == "" {
			return storeKind{}, errors.New(`store "sqlite:" has no path: use sqlite:PATH`)
		}
		return storeKind{sqlitePath: p}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" && u.Path == "" {
			return storeKind{}, errors.New("store is not a valid PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=...); the URL is not shown here because it may hold a password")
		}
		return storeKind{postgresDSN: s}, nil
	}
	return storeKind{}, fmt.Errorf("store %s is not supported: use sqlite:PATH or a postgres:// (postgresql://) URL", describe(s))
}

// describe names a rejected store string for an error without echoing
// anything that could be a password.
func describe(s string) string {
	if strings.Contains(s, "@") || strings.Contains(s, "password") {
		return "(value hidden: it may hold a password)"
	}
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Open opens the store and its key file (creating both when missing) and
// returns the domain over them. The caller closes it.
func Open(ctx context.Context, cfg Config) (*backend.Service, error) {
	spec := cfg.Store
	if spec == "" {
		spec = DefaultStore()
	}
	kind, err := parseStore(spec)
	if err != nil {
		return nil, &backend.Error{Code: backend.CodeInvalid, Field: "store", Message: err.Error()}
	}

	keyFile := cfg.KeyFile
	var st store.Store
	switch {
	case kind.sqlitePath != "":
		if keyFile == "" {
			keyFile = kind.sqlitePath + ".key"
		}
		// An existing key file first: a bad one should not leave a new empty
		// database behind.
		if err := preloadKey(keyFile); err != nil {
			return nil, err
		}
		st, err = sqlite.Open(kind.sqlitePath)
		if err != nil {
			return nil, storeError(err)
		}
	default:
		if keyFile == "" {
			keyFile = os.Getenv(EnvKeyFile)
		}
		if keyFile == "" {
			keyFile = DefaultPostgresKeyFile
		}
		if err := preloadKey(keyFile); err != nil {
			return nil, err
		}
		st, err = openPostgres(ctx, kind.postgresDSN)
		if err != nil {
			return nil, storeError(err)
		}
	}
	box, err := keyForStore(ctx, st, keyFile)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return backend.NewService(st, box, backend.Options{LockoutThreshold: cfg.LockoutThreshold}), nil
}

// preloadKey checks an existing key file before the store is opened (or
// created); a missing one is dealt with by keyForStore.
func preloadKey(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_, err := loadKey(path) // any other stat error is reported by the load
	return err
}

// keyForStore loads the key file, or creates it for a store that holds no
// sealed value yet. It refuses to create a new key for a store whose app
// secret values were sealed with a key that is now missing (a new key could
// never open them, and every later value would be sealed with a key that does
// not match the backup), and it refuses a key file that is not the one those
// values were sealed with.
func keyForStore(ctx context.Context, st store.Store, path string) (*secretbox.Box, error) {
	sealed, err := firstSealed(ctx, st)
	if err != nil {
		return nil, storeError(err)
	}
	if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) && sealed != nil {
		return nil, &backend.Error{
			Code: backend.CodeKeyFile,
			Message: fmt.Sprintf("key file %s is missing, but the store holds app secret values sealed with it: "+
				"restore it from backup; without it app secret values cannot be decrypted "+
				"(a new key is not created, since it could never open them)", path),
		}
	}
	box, err := loadKey(path)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		return box, nil
	}
	if _, err := box.Open(sealed); err != nil {
		msg := fmt.Sprintf("key file %s is not the key this store's app secret values were sealed with: "+
			"restore the key file that belongs to this store", path)
		if errors.Is(err, secretbox.ErrCorrupt) {
			msg = fmt.Sprintf("a stored app secret value cannot be opened with key file %s: the value or the key file is corrupt; "+
				"restore both from the same backup", path)
		}
		return nil, &backend.Error{Code: backend.CodeKeyFile, Message: msg, Err: err}
	}
	return box, nil
}

// firstSealed returns one sealed value of the store (an app secret value, else
// a remembered regenerate result), or nil when it holds none.
func firstSealed(ctx context.Context, st store.Store) ([]byte, error) {
	var out []byte
	err := st.Read(ctx, func(tx store.Tx) error {
		rows, err := tx.ListAppSecrets(ctx, store.AppSecretFilter{})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if len(r.Ciphertext) > 0 {
				out = r.Ciphertext
				return nil
			}
		}
		return nil
	})
	return out, err
}

func loadKey(path string) (*secretbox.Box, error) {
	box, err := secretbox.LoadOrCreate(path)
	if err != nil {
		return nil, &backend.Error{
			Code:    backend.CodeKeyFile,
			Message: "cannot use the key file that seals app secret values",
			Err:     err,
		}
	}
	return box, nil
}

func storeError(err error) error {
	code := backend.CodeInternal
	switch {
	case errors.Is(err, store.ErrSchemaNewer):
		code = backend.CodeSchemaNewer
	case errors.Is(err, store.ErrUnavailable):
		code = backend.CodeUnavailable
	}
	return &backend.Error{Code: code, Message: "cannot open the store", Err: err}
}
