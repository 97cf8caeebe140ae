package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateCreatesPrivateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	path := filepath.Join(dir, "apphost.db.key")
	b1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
		}
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("key dir mode = %v, want 0700", di.Mode().Perm())
		}
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "#") {
		t.Errorf("key file has no header comment: %q", data)
	}

	// A second load reads the same key.
	b2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed := b1.Seal([]byte("hello"))
	got, err := b2.Open(sealed)
	if err != nil || string(got) != "hello" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestSealOpen(t *testing.T) {
	b, err := LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range [][]byte{nil, []byte("x"), []byte("ahk_app-secret-value"), bytes.Repeat([]byte("ab"), 5000)} {
		s1, s2 := b.Seal(plain), b.Seal(plain)
		if bytes.Equal(s1, s2) {
			t.Error("two seals of the same value are equal: nonce reused")
		}
		// A 1-byte value turns up in random ciphertext by chance (about one
		// run in ten), so only values long enough to mean something are checked.
		if len(plain) >= 8 && bytes.Contains(s1, plain) {
			t.Error("sealed value contains the plaintext")
		}
		got, err := b.Open(s1)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Open = %q, %v", got, err)
		}
	}
}

func TestOpenWithAnotherKey(t *testing.T) {
	dir := t.TempDir()
	b1, _ := LoadOrCreate(filepath.Join(dir, "a"))
	b2, _ := LoadOrCreate(filepath.Join(dir, "b"))
	_, err := b2.Open(b1.Seal([]byte("v")))
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
	if !strings.Contains(err.Error(), "restore the key file") {
		t.Errorf("message does not say what to do: %v", err)
	}
}

func TestOpenTampered(t *testing.T) {
	b, _ := LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	s := b.Seal([]byte("value"))
	s[len(s)-1] ^= 1
	if _, err := b.Open(s); !errors.Is(err, ErrCorrupt) {
		t.Errorf("tampered: err = %v, want ErrCorrupt", err)
	}
	if _, err := b.Open([]byte{1, 2}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short: err = %v, want ErrCorrupt", err)
	}
}

func TestBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"short":  "# c\nAAAA\n",
		"notb64": "not base64!!\n",
		"empty":  "# only a comment\n",
		"two":    "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\nQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreate(p); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
}

func TestConcurrentCreateAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	const n = 8
	boxes := make([]*Box, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, err := LoadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
			boxes[i] = b
		})
	}
	wg.Wait()
	sealed := boxes[0].Seal([]byte("v"))
	for i, b := range boxes {
		if b == nil {
			continue
		}
		if _, err := b.Open(sealed); err != nil {
			t.Errorf("box %d has another key: %v", i, err)
		}
	}
}
