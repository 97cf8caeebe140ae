package embedded

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

// dropKeyCheck makes db look like a store from before key checks.
func dropKeyCheck(t *testing.T, db string) {
	t.Helper()
	if err := sqliteExec(db, `DELETE FROM settings`); err != nil {
		t.Fatal(err)
	}
}

// TestMissingKeyFileWithOnlyRememberedRegenerate (finding 7): a store from
// before key checks whose only sealed values are remembered regenerate
// results (no app secret value) is not taken for an empty one when its key
// file is gone.
func TestMissingKeyFileWithOnlyRememberedRegenerate(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "apphost.db")
	s, err := Open(ctx, Config{Store: "sqlite:" + db})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: k.ID, IdempotencyKey: "retry-me"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	dropKeyCheck(t, db)
	wantMissingKeyRefused(t, db, "a store with only a remembered regenerate sealed")
}

// TestKeyCheckIsRecordedForOldStores: a store from before key checks gets
// one at its next open with the right key, and is then held to it.
func TestKeyCheckIsRecordedForOldStores(t *testing.T) {
	db, _ := storeWithSealedValue(t)
	dropKeyCheck(t, db)
	s, err := Open(context.Background(), Config{Store: "sqlite:" + db})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	err = st.Read(context.Background(), func(tx store.Tx) error {
		_, err := tx.GetSetting(context.Background(), keyCheckSetting)
		return err
	})
	if err != nil {
		t.Fatalf("no key check after reopening an old store: %v", err)
	}
}

// TestNoKeyOpensWithoutAKeyFile: NoKey neither reads nor creates a key file.
func TestNoKeyOpensWithoutAKeyFile(t *testing.T) {
	db, _ := storeWithSealedValue(t)
	if err := os.Remove(db + ".key"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Config{Store: "sqlite:" + db, NoKey: true})
	if err != nil {
		t.Fatalf("Open(NoKey) without the key file: %v", err)
	}
	if _, err := s.ListAccounts(context.Background(), backend.ListAccountsRequest{}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := os.Stat(db + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(NoKey) created a key file: %v", err)
	}
}

func TestRedactStore(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:/tmp/a.db":                                "sqlite:/tmp/a.db",
		"postgres://u:pw@db:5432/x?sslmode=disable":       "postgres://u:xxxxx@db:5432/x?sslmode=disable",
		"postgres://u@db/x":                               "postgres://u@db/x",
		"postgres://db/x?password=sekrit&sslmode=disable": "postgres://db/x?password=xxxxx&sslmode=disable",
		"postgresql://u:p%40ss@db/x?sslpassword=s2&a=b":   "postgresql://u:xxxxx@db/x?a=b&sslpassword=xxxxx",
		"postgres://u:pw@db:port/x":                       "postgres://(the rest is hidden: it does not parse and may hold a password)",
		// Other spellings: the scheme in capitals, pgx://, key/value strings.
		"POSTGRES://u:pw@db/x?PassWord=s2":                      "POSTGRES://u:xxxxx@db/x?PassWord=xxxxx",
		"pgx://u:pw@db/x":                                       "pgx://u:xxxxx@db/x",
		"host=db port=5432 password=sekrit dbname=x":            "host=db port=5432 password=xxxxx dbname=x",
		"host=db password = 'se kr\\'it' sslpassword=s2 user=u": "host=db password = xxxxx sslpassword=xxxxx user=u",
		"PASSWORD=sekrit":                                       "PASSWORD=xxxxx",
		"user=u password=a=b":                                   "user=u password=xxxxx",
	} {
		if got := RedactStore(in); got != want {
			t.Errorf("RedactStore(%q) = %q, want %q", in, got, want)
		}
	}
	err := redactError(errors.New(`connect "postgres://u:sekrit-pw@h/db": refused`), "postgres://u:sekrit-pw@h/db")
	if strings.Contains(err.Error(), "sekrit-pw") {
		t.Errorf("redactError kept the password: %v", err)
	}
}

// sqliteExec runs one statement on the SQLite file db.
func sqliteExec(db, stmt string) error {
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_, err = conn.Exec(stmt)
	return err
}
