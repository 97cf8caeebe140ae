package apphost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// The token hash a host reports for a process is the hash of the token
// that process holds: the same after the host restarts (an adopted
// process), and a new one only for a process started with a new token.
func TestTokenHashes(t *testing.T) {
	dir := t.TempDir()
	tok, err := openTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	t1, fresh, err := tok.token(driver.State{Name: "app"}, false, false)
	if err != nil || !fresh || t1 == "" {
		t.Fatalf("first token %q, %v, %v", t1, fresh, err)
	}
	p1 := driver.State{Name: "app", Phase: driver.PhaseRunning, PID: 101, StartedAt: time.Now()}
	if got := tok.hash(p1); got != hostapi.TokenHash(t1) {
		t.Errorf("the first process: %s, want the first token's hash", got)
	}
	// The driver keeps the process: the same token again.
	if again, fresh, err := tok.token(p1, true, true); err != nil || fresh || again != t1 {
		t.Errorf("a kept process got token %q (fresh %v, %v), want the first again", again, fresh, err)
	}

	// The host restarts: the adopted process has the same hash. The driver
	// keeps it, and gets a new token for its later restarts.
	tok, err = openTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.hash(p1); got != hostapi.TokenHash(t1) {
		t.Errorf("the adopted process: %s, want the first token's hash", got)
	}
	t2, fresh, err := tok.token(p1, true, true)
	if err != nil || !fresh || t2 == t1 {
		t.Fatalf("token for an adopted process's restarts %q (fresh %v, %v): want a new one", t2, fresh, err)
	}
	if got := tok.hash(p1); got != hostapi.TokenHash(t1) {
		t.Errorf("the adopted process after the new token: %s, want the first token's hash", got)
	}
	p2 := driver.State{Name: "app", Phase: driver.PhaseRunning, PID: 102, StartedAt: p1.StartedAt.Add(time.Second)}
	if got := tok.hash(p2); got != hostapi.TokenHash(t2) {
		t.Errorf("its restart: %s, want the second token's hash", got)
	}
	// And after another restart of the host, too.
	tok, err = openTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.hash(p2); got != hostapi.TokenHash(t2) {
		t.Errorf("the restart, adopted: %s, want the second token's hash", got)
	}

	// Records are the owner's only, and hold no token.
	fi, err := os.Stat(filepath.Join(dir, tokensDir, "app"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record: %v, %v; want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, tokensDir, "app"))
	if strings.Contains(string(b), t1) || strings.Contains(string(b), t2) {
		t.Errorf("the record holds a token: %s", b)
	}
	tok.forget("app")
	if _, err := os.Stat(filepath.Join(dir, tokensDir, "app")); !os.IsNotExist(err) {
		t.Errorf("record after forget: %v", err)
	}
}

// The instance ID is made once and kept; a file that holds none is
// refused, saying what to do.
func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	a, err := instanceID(dir)
	if err != nil || a == "" {
		t.Fatalf("%q, %v", a, err)
	}
	if b, err := instanceID(dir); err != nil || b != a {
		t.Errorf("second read %q, %v; want %q", b, err, a)
	}
	if fi, err := os.Stat(filepath.Join(dir, instanceFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("instance file: %v, %v; want mode 0600", fi, err)
	}
	if err := os.WriteFile(filepath.Join(dir, instanceFile), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := instanceID(dir); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("an empty instance file: %v", err)
	}
}

// The host's directory is made 0700; an existing one that others may read
// is refused, not changed.
func TestPrepareDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "a", "host-east")
	if err := prepareDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("made %v, %v; want mode 0700", fi, err)
	}
	if err := prepareDir(dir); err != nil {
		t.Errorf("again: %v", err)
	}
	shared := filepath.Join(parent, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(shared); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("a directory others may read: %v", err)
	}
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o755 {
		t.Errorf("its mode was changed to %04o", fi.Mode().Perm())
	}
}
