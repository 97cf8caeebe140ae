package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
)

// storeWithSealedValue makes a SQLite store holding one sealed app secret
// value and returns its path and the value.
func storeWithSealedValue(t *testing.T) (db, value string) {
	t.Helper()
	ctx := context.Background()
	db = filepath.Join(t.TempDir(), "apphost.db")
	s, err := Open(ctx, Config{Store: "sqlite:" + db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	app, err := s.CreateApp(ctx, backend.CreateAppRequest{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	value = "v-" + rand.Text()
	if _, err := s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "token", Value: &value}); err != nil {
		t.Fatal(err)
	}
	return db, value
}

// TestMissingKeyFileIsRefused: once values are sealed, a missing key file is
// an error that says what to do, and no new key is created in its place
// (which would seal later values with a key the backup does not have, and
// turn every old value into a decryption failure).
func TestMissingKeyFileIsRefused(t *testing.T) {
	db, _ := storeWithSealedValue(t)
	key := db + ".key"
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Config{Store: "sqlite:" + db})
	if backend.CodeOf(err) != backend.CodeKeyFile {
		t.Fatalf("Open without the key file = %v, want a key_file error", err)
	}
	for _, want := range []string{key, "is missing", "restore the key file from backup", "could never open"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new key file was created in place of the missing one: %v", err)
	}
}

// TestMissingKeyFileWithoutSealedValues: a store that has a key (recorded at
// its first open, even with nothing sealed yet) refuses to make a new one
// when the key file is gone: another replica may hold the key, or the next
// sealed value would not open with the backup's.
func TestMissingKeyFileWithoutSealedValues(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "apphost.db")
	s, err := Open(ctx, Config{Store: "sqlite:" + db})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	wantMissingKeyRefused(t, db, "a store with a key")
}

// wantMissingKeyRefused removes the key file of the SQLite store db and
// checks that Open refuses the store (what says which) without it and
// creates no new key file.
func wantMissingKeyRefused(t *testing.T, db, what string) {
	t.Helper()
	if err := os.Remove(db + ".key"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Config{Store: "sqlite:" + db})
	if backend.CodeOf(err) != backend.CodeKeyFile || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("Open of %s and no key file = %v, want key_file", what, err)
	}
	if _, err := os.Stat(db + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new key file was created: %v", err)
	}
}

// TestWrongKeyFileIsRefused: a key file that is not the store's is refused
// at Open, not at the first deploy, and never yields garbage.
func TestWrongKeyFileIsRefused(t *testing.T) {
	db, _ := storeWithSealedValue(t)
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := secretbox.LoadOrCreate(other); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Config{Store: "sqlite:" + db, KeyFile: other})
	if backend.CodeOf(err) != backend.CodeKeyFile || !strings.Contains(err.Error(), "not this store's sealing key") {
		t.Fatalf("Open with another key = %v, want a key_file error", err)
	}
	// A key file cut short is refused too.
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte(base64.StdEncoding.EncodeToString(make([]byte, 16))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Config{Store: "sqlite:" + db, KeyFile: bad}); backend.CodeOf(err) != backend.CodeKeyFile {
		t.Fatalf("Open with a 16-byte key = %v, want key_file", err)
	}
}

// TestSecretsAtRest scans the SQLite files (database, WAL, shared memory)
// while the store is open and after it is closed: no key secret and no app
// secret value may be there in clear, in base64 or in hex; key secrets are
// there only as their SHA-256. The key file is 0600.
func TestSecretsAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "apphost.db")
	s, err := Open(ctx, Config{Store: "sqlite:" + db})
	if err != nil {
		t.Fatal(err)
	}
	var keySecrets, values []string
	app, err := s.CreateApp(ctx, backend.CreateAppRequest{Name: "forwarder", Config: map[string]string{"region": "eu"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"siem", "backup", "admin-ish"} {
		k, err := s.CreateAccount(ctx, backend.CreateAccountRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		keySecrets = append(keySecrets, k.Secret)
		// The app secret holds the key's secret, as the provider stores it.
		if _, err := s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: name, AccountID: k.ID, Value: &k.Secret}); err != nil {
			t.Fatal(err)
		}
		// A regenerate with an idempotency key remembers its result (sealed).
		r, err := s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: k.ID, IdempotencyKey: "rot-" + name})
		if err != nil {
			t.Fatal(err)
		}
		keySecrets = append(keySecrets, r.Secret)
		if _, err := s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: name, AccountID: k.ID, Value: &r.Secret}); err != nil {
			t.Fatal(err)
		}
		// A login with the right secret and one with a secret pasted as the ID.
		_ = s.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: r.Secret})
		_ = s.Login(ctx, backend.LoginRequest{AccountID: r.Secret, Secret: k.ID})
	}
	other := "other-" + rand.Text()
	values = append(values, other)
	if _, err := s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "plain", Value: &other}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}

	scan := func(when string) int {
		files, _ := filepath.Glob(db + "*")
		var data []byte
		for _, f := range files {
			if strings.HasSuffix(f, ".key") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, b...)
		}
		for i, sec := range append(append([]string{}, keySecrets...), values...) {
			for _, form := range [][]byte{[]byte(sec), []byte(base64.StdEncoding.EncodeToString([]byte(sec))), []byte(hex.EncodeToString([]byte(sec)))} {
				if bytes.Contains(data, form) {
					t.Errorf("%s: secret %d is in the database files in clear (%d bytes of %v)", when, i, len(data), files)
				}
			}
		}
		// The last secret of each account is there as its hash, nothing else.
		for i := 1; i < len(keySecrets); i += 2 {
			sum := sha256.Sum256([]byte(keySecrets[i]))
			if !bytes.Contains(data, sum[:]) && !bytes.Contains(data, []byte(hex.EncodeToString(sum[:]))) {
				t.Errorf("%s: the hash of key secret %d is not stored: how is it checked?", when, i)
			}
		}
		return len(data)
	}
	open := scan("open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed := scan("closed")
	t.Logf("scanned for %d distinct secrets (%d key secrets, each also stored as an app secret value, and %d other values; "+
		"3 encodings each) in %d bytes (open) and %d bytes (closed)",
		len(keySecrets)+len(values), len(keySecrets), len(values), open, closed)

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(db + ".key")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
		}
	}
}
