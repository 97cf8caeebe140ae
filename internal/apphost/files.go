package apphost

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// Files of the host in DIR (besides the exec driver's apps/ and lock).
const (
	// instanceFile holds the host's instance ID: a host restarted in DIR
	// is the same instance, and takes its name over at once.
	instanceFile = "instance-id"
	// tokensDir holds, per app, which token hash its process holds.
	tokensDir = "tokens"
)

// mkdirPrivate makes dir (and its parents) and makes it 0700.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// prepareDir makes the host's directory (0700), or checks that the one
// there is its owner's only: it holds the apps' secrets. It never changes
// an existing directory's mode: --dir given a shared directory by mistake
// (/tmp, a home) must not lock everyone else out of it.
func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("making the App Host directory: %w", err)
		}
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("the App Host directory %s is not a directory", dir)
	case fi.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows":
		return fmt.Errorf("the App Host directory %s may be read by others than its owner (mode %04o), and it will hold "+
			"the apps' secrets: give --dir a directory of its own (it is made 0700), or run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// instanceID reads the host's instance ID from dir, made at the first start.
func instanceID(dir string) (string, error) {
	path := filepath.Join(dir, instanceFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id := uuid.NewString()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("recording the instance ID: %w", err)
		}
		_, werr := f.WriteString(id + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			_ = os.Remove(path)
			return "", fmt.Errorf("recording the instance ID in %s: %w", path, err)
		}
		return id, nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the instance ID: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" || len(id) > backend.MaxNameLength || !backend.CleanText(id) || strings.ContainsAny(id, "\r\n") {
		return "", fmt.Errorf("%s does not hold an instance ID: remove it to make this App Host a new instance "+
			"(the server then refuses it while the old instance is online, and it stops its apps first)", path)
	}
	return id, nil
}

// newToken is a per-start app token: 256 bits from crypto/rand.
func newToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// tokenRecord is, for one app, the hash of the token each of its
// processes holds, so that a host restarted in DIR reports the same hash
// for a process it adopts as the host that started it did.
type tokenRecord struct {
	// Spec is the hash of the token in the spec the driver was given last:
	// a process the driver starts from now on holds that token.
	Spec string `json:"spec"`
	// PID and StartedAt name the app's process that holds the token of
	// hash Process.
	PID       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Process   string    `json:"process,omitempty"`
}

// tokens keeps the token records in DIR/tokens/NAME, one file per app.
type tokens struct {
	dir string

	mu   sync.Mutex
	recs map[string]tokenRecord
	// live is the token in the spec the driver was given last, when this
	// host process gave it: given again when the driver keeps the process.
	live map[string]string
}

func openTokens(dir string) (*tokens, error) {
	t := &tokens{dir: filepath.Join(dir, tokensDir), recs: map[string]tokenRecord{}, live: map[string]string{}}
	if err := mkdirPrivate(t.dir); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			_ = os.Remove(filepath.Join(t.dir, name)) // a write the host did not finish
			continue
		}
		if e.IsDir() || driver.ValidateName(name) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(t.dir, name))
		var rec tokenRecord
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil {
			// Without it an adopted app's logins are not proven until its
			// next start: the app runs on, its health by its uptime.
			_ = os.Remove(filepath.Join(t.dir, name))
			continue
		}
		t.recs[name] = rec
	}
	return t, nil
}

// hash is the token hash the process of s holds ("" when it has none, or
// the host cannot know it). A process it has not seen before was started
// by the driver with the spec's token: it is recorded so.
func (t *tokens) hash(s driver.State) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hashLocked(s)
}

func (t *tokens) hashLocked(s driver.State) string {
	rec, ok := t.recs[s.Name]
	if !ok {
		return ""
	}
	if s.PID == 0 {
		// The virtual driver's apps, and apps between processes: the next
		// one gets the spec's token.
		return rec.Spec
	}
	if s.PID == rec.PID && s.StartedAt.Equal(rec.StartedAt) {
		return rec.Process
	}
	rec.PID, rec.StartedAt, rec.Process = s.PID, s.StartedAt, rec.Spec
	t.recs[s.Name] = rec
	_ = t.write(s.Name, rec) // at worst, the next host cannot tell this process's token
	return rec.Spec
}

// token returns the token to give the driver with a Start of app name whose
// current state is cur, and whether it is a new one. keep says that the
// driver keeps the app's process (it runs the spec's generation): then the
// token this host gave is given again, so that the process and its
// restarts hold the same; without one (an adopted process) a new token is
// for its later restarts. The record is written before the driver gets the
// token: a host killed meanwhile leaves a record that tells the next one
// which token a process started from now holds.
func (t *tokens) token(cur driver.State, known, keep bool) (string, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	name := cur.Name
	if tok, ok := t.live[name]; ok && keep {
		return tok, false, nil
	}
	tok, err := newToken()
	if err != nil {
		return "", false, err
	}
	rec := t.recs[name]
	if known && cur.PID != 0 {
		// The running process keeps the token it holds: which one is
		// recorded before the spec's changes (one not seen before was
		// started with the spec's; "" when there was no record).
		proc := rec.Spec
		if cur.PID == rec.PID && cur.StartedAt.Equal(rec.StartedAt) {
			proc = rec.Process
		}
		rec.PID, rec.StartedAt, rec.Process = cur.PID, cur.StartedAt, proc
	}
	rec.Spec = hostapi.TokenHash(tok)
	if err := t.write(name, rec); err != nil {
		return "", false, fmt.Errorf("recording the token hash of app %q: %w", name, err)
	}
	t.recs[name] = rec
	t.live[name] = tok
	return tok, true, nil
}

// forget drops the record of an app that has no process.
func (t *tokens) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.recs[name]; !ok {
		return
	}
	delete(t.recs, name)
	delete(t.live, name)
	_ = os.Remove(filepath.Join(t.dir, name))
}

// names are the apps with a record.
func (t *tokens) names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.recs))
	for n := range t.recs {
		out = append(out, n)
	}
	return out
}

// write replaces the record file of app name (a temporary file renamed
// over it: a reader sees the old record or the new). A host killed keeps
// what it wrote; a machine that loses it lost the apps too.
func (t *tokens) write(name string, rec tokenRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(t.dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Chmod(0o600), f.Close()); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(t.dir, name)); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}
