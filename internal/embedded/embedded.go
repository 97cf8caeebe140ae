// Package embedded opens the backend that runs in this process: the admin
// domain over a store named by a --store string (or the provider's
// store_path), with the key file that seals its app secret values.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

// Environment variables read for defaults.
const (
	EnvStorePath = "APPHOST_STORE_PATH"
	EnvKeyFile   = "APPHOST_KEY_FILE"
	// EnvRotationLease sets the rotation lease (a Go duration) of a backend
	// opened without one: how soon the next apply takes over a rotation
	// whose driver (a killed provider) went silent.
	EnvRotationLease = "APPHOST_ROTATION_LEASE"
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
	// LockoutThreshold: see core.Options.
	LockoutThreshold int
	// RotationLease: see core.Options; 0 means $APPHOST_ROTATION_LEASE, else
	// core.DefaultRotationLease.
	RotationLease time.Duration
	// AppHostOfflineAfter: see core.Options; 0 means
	// core.DefaultAppHostOfflineAfter.
	AppHostOfflineAfter time.Duration
	// NoKey opens the store without its key file, for commands that read no
	// secret (audit, accounts): nothing is sealed or opened, and the key file
	// is neither read nor created. Such a Service must not be asked to seal
	// or open a value.
	NoKey bool
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
	r := RedactStore(s)
	if r == s && (strings.Contains(s, "@") || isPasswordKey(s)) {
		return "(value hidden: it may hold a password)"
	}
	s = r
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Open opens the store and its key file (creating both when missing) and
// returns the domain over them. The caller closes it.
func Open(ctx context.Context, cfg Config) (*core.Service, error) {
	spec := cfg.Store
	if spec == "" {
		spec = DefaultStore()
	}
	kind, err := parseStore(spec)
	if err != nil {
		return nil, &backend.Error{Code: backend.CodeInvalid, Field: "store", Message: err.Error()}
	}
	lease := cfg.RotationLease
	if v := os.Getenv(EnvRotationLease); lease == 0 && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, &backend.Error{Code: backend.CodeInvalid, Field: "rotation_lease", Message: fmt.Sprintf(
				"%s=%q is not a positive duration such as \"15s\"", EnvRotationLease, v)}
		}
		lease = d
	}
	opts := core.Options{LockoutThreshold: cfg.LockoutThreshold, RotationLease: lease,
		AppHostOfflineAfter: cfg.AppHostOfflineAfter}
	if cfg.NoKey {
		var st store.Store
		if kind.sqlitePath != "" {
			st, err = sqlite.Open(kind.sqlitePath)
		} else {
			st, err = openPostgres(ctx, kind.postgresDSN)
		}
		if err != nil {
			return nil, storeError(redactError(err, kind.postgresDSN))
		}
		return core.NewService(st, nil, opts), nil
	}

	keyFile := keyFilePath(cfg, kind)
	var st store.Store
	switch {
	case kind.sqlitePath != "":
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
		if err := preloadKey(keyFile); err != nil {
			return nil, err
		}
		st, err = openPostgres(ctx, kind.postgresDSN)
		if err != nil {
			return nil, storeError(redactError(err, kind.postgresDSN))
		}
	}
	box, err := keyForStore(ctx, st, keyFile)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return core.NewService(st, box, opts), nil
}

// keyFilePath is the key file of cfg's store: cfg.KeyFile, else PATH.key
// beside a SQLite store, else $APPHOST_KEY_FILE, else DefaultPostgresKeyFile.
func keyFilePath(cfg Config, kind storeKind) string {
	switch {
	case cfg.KeyFile != "":
		return cfg.KeyFile
	case kind.sqlitePath != "":
		return kind.sqlitePath + ".key"
	case os.Getenv(EnvKeyFile) != "":
		return os.Getenv(EnvKeyFile)
	}
	return DefaultPostgresKeyFile
}

// Files returns the files Open reads for cfg: the SQLite database ("" for
// PostgreSQL) and the key file ("" with NoKey), so that a caller can check
// who may read them.
func Files(cfg Config) (storeFile, keyFile string) {
	spec := cfg.Store
	if spec == "" {
		spec = DefaultStore()
	}
	kind, err := parseStore(spec)
	if err != nil {
		return "", ""
	}
	if !cfg.NoKey {
		keyFile = keyFilePath(cfg, kind)
	}
	return kind.sqlitePath, keyFile
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

// keyCheckSetting is the store setting that holds a value sealed with the
// store's key: every process that opens the store must open it, so all
// replicas on one PostgreSQL seal with one key, whichever starts first.
const keyCheckSetting = "key_check"

// keyCheckPlain is what the key check value seals.
const keyCheckPlain = "apphost sealing key check v1"

// keyForStore loads the key file, or creates it for a store that has no key
// yet, and holds it to the store's key check value, recording one at the
// first open. It refuses to create a new key for a store that has one (a new
// key could never open its sealed values, and another replica's values
// would not open with it), and a key file that is not the store's key.
func keyForStore(ctx context.Context, st store.Store, path string) (*secretbox.Box, error) {
	check, sealed, err := storeSealed(ctx, st)
	if err != nil {
		return nil, storeError(err)
	}
	if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) && (check != nil || sealed != nil) {
		return nil, &backend.Error{
			Code: backend.CodeKeyFile,
			Message: fmt.Sprintf("key file %s is missing, but the store already has a sealing key: "+
				"restore the key file from backup, or copy it from the machine of another server on this store "+
				"(every server on one store must use the same key file: --key-file or %s); "+
				"a new key is not created, since it could never open the values sealed with the store's key", path, EnvKeyFile),
		}
	}
	box, err := loadKey(path)
	if err != nil {
		return nil, err
	}
	if check == nil && sealed == nil {
		// A store that has no key yet: record this one, unless another
		// process just recorded its own, which this key must then open.
		check, err = recordKeyCheck(ctx, st, box.Seal([]byte(keyCheckPlain)))
		if err != nil {
			return nil, storeError(err)
		}
	}
	probe := check
	if probe == nil {
		probe = sealed
	}
	if _, err := box.Open(probe); err != nil {
		msg := fmt.Sprintf("key file %s is not this store's sealing key (another server on this store, or the backup, has the right one): "+
			"give every server on one store the same key file (--key-file or %s), restored from the one the store was first opened with", path, EnvKeyFile)
		if errors.Is(err, secretbox.ErrCorrupt) {
			msg = fmt.Sprintf("a sealed value of the store cannot be opened with key file %s: the value or the key file is corrupt; "+
				"restore both from the same backup", path)
		}
		return nil, &backend.Error{Code: backend.CodeKeyFile, Message: msg, Err: err}
	}
	if check == nil {
		// A store from before key checks, whose sealed values this key opens.
		if _, err := recordKeyCheck(ctx, st, box.Seal([]byte(keyCheckPlain))); err != nil {
			return nil, storeError(err)
		}
	}
	return box, nil
}

// recordKeyCheck stores check as the key check value unless one is there,
// and returns the one that is there afterwards. Writes serialize across
// processes, so two replicas starting together agree on one.
func recordKeyCheck(ctx context.Context, st store.Store, check []byte) ([]byte, error) {
	var out []byte
	err := st.Write(ctx, func(tx store.Tx) error {
		cur, err := tx.GetSetting(ctx, keyCheckSetting)
		if err == nil {
			out = cur
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		out = check
		return tx.PutSetting(ctx, keyCheckSetting, check)
	})
	return out, err
}

// storeSealed returns the store's key check value or, for a store from
// before key checks, one sealed value (an app secret value, else a remembered
// regenerate result); nil when absent.
func storeSealed(ctx context.Context, st store.Store) (check, sealed []byte, err error) {
	err = st.Read(ctx, func(tx store.Tx) error {
		c, err := tx.GetSetting(ctx, keyCheckSetting)
		switch {
		case err == nil:
			check = c
			return nil // the check value decides; no need to look further
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		rows, err := tx.ListAppSecrets(ctx, store.AppSecretFilter{})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if len(r.Ciphertext) > 0 {
				sealed = r.Ciphertext
				return nil
			}
		}
		s, err := tx.FirstSealedResult(ctx)
		switch {
		case err == nil:
			sealed = s
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	return check, sealed, err
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
