// Package secretbox seals app secret values with AES-256-GCM under a 32-byte
// key kept in a key file beside the database.
//
// The key never enters the database, so a copy of the database alone does not
// reveal app secret values; the key file must be backed up with it.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of the key: AES-256.
const KeySize = 32

// sealed layout: version (1) | key fingerprint (4) | nonce (12) | ciphertext+tag.
const (
	formatV1       = 1
	fingerprintLen = 4
	headerLen      = 1 + fingerprintLen
)

const keyFileHeader = "# apphost secret box key (AES-256, base64). Keep it with the database:\n" +
	"# without it the stored app secret values cannot be read.\n"

var (
	// ErrWrongKey: the value was sealed with a different key.
	ErrWrongKey = errors.New("sealed with another key: restore the key file that belongs to this store")
	// ErrCorrupt: the value is not something Seal produced, or was altered.
	ErrCorrupt = errors.New("sealed value is corrupt")
)

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead        cipher.AEAD
	fingerprint [fingerprintLen]byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	b := &Box{aead: aead}
	// The fingerprint tells "another key" apart from "corrupt" without
	// revealing anything useful about the key.
	sum := sha256.Sum256(append([]byte("apphost-secretbox-fingerprint:"), key...))
	copy(b.fingerprint[:], sum[:])
	return b, nil
}

// LoadOrCreate reads the key file at path, creating it with a new random key
// (mode 0600, parent directory 0700) when it does not exist.
func LoadOrCreate(path string) (*Box, error) {
	if path == "" {
		return nil, errors.New("key file path is empty")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	key, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return New(key)
}

// create writes a new key file, or returns the one another process created
// first: the file appears complete or not at all (write to a temporary file,
// then hard-link it into place, which fails if the name exists).
func create(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	data := []byte(keyFileHeader + base64.StdEncoding.EncodeToString(key) + "\n")

	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ReadFile(path)
		}
		// Some filesystems have no hard links: fall back to an exclusive create.
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(ferr, os.ErrExist) {
			return os.ReadFile(path)
		}
		if ferr != nil {
			return nil, ferr
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// parseKeyFile accepts "#" comment lines and one base64 line.
func parseKeyFile(data []byte) ([]byte, error) {
	var enc string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if enc != "" {
			return nil, errors.New("more than one key line")
		}
		enc = line
	}
	if enc == "" {
		return nil, errors.New("no key in file")
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errors.New("key is not valid base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// Seal encrypts plain with a fresh random nonce.
func (b *Box) Seal(plain []byte) []byte {
	nonceSize := b.aead.NonceSize()
	out := make([]byte, headerLen+nonceSize, headerLen+nonceSize+len(plain)+b.aead.Overhead())
	out[0] = formatV1
	copy(out[1:headerLen], b.fingerprint[:])
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(out[headerLen:])
	nonce := out[headerLen : headerLen+nonceSize]
	// The header is authenticated too, so it cannot be swapped.
	return b.aead.Seal(out, nonce, plain, out[:headerLen])
}

// Open decrypts what Seal returned. It returns ErrWrongKey when the value was
// sealed with another key and ErrCorrupt when it was altered.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	nonceSize := b.aead.NonceSize()
	if len(sealed) < headerLen+nonceSize+b.aead.Overhead() || sealed[0] != formatV1 {
		return nil, ErrCorrupt
	}
	if !bytes.Equal(sealed[1:headerLen], b.fingerprint[:]) {
		return nil, ErrWrongKey
	}
	nonce := sealed[headerLen : headerLen+nonceSize]
	plain, err := b.aead.Open(nil, nonce, sealed[headerLen+nonceSize:], sealed[:headerLen])
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}
