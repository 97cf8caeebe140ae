// Package benchutil holds what the benchmark programs share: starting the
// apphost server (`terraform-provider-apphost serve`) and App Hosts
// (`terraform-provider-apphost host`) on loopback, a throwaway PostgreSQL
// schema, a process's memory.
package benchutil

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// Server is a running `terraform-provider-apphost serve`.
type Server struct {
	URL      string // http://127.0.0.1:PORT
	AdminID  string
	AdminKey string
	cmd      *exec.Cmd
	done     chan error
}

// StartServer starts bin's serve command on a free loopback port over store,
// with a fresh admin account, its logs going to logPath. keyFile may be empty
// (SQLite keeps its key beside the database); extra are more serve flags.
func StartServer(ctx context.Context, bin, store, keyFile, logPath string, extra ...string) (*Server, error) {
	s := &Server{AdminID: uuid.NewString(), AdminKey: RandomSecret()}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--store", store}
	if keyFile != "" {
		args = append(args, "--key-file", keyFile)
	}
	args = append(args, extra...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(bin, args...) //nolint:gosec // the benchmark's own binary
	cmd.Env = tfcli.CleanEnv(
		"APPHOST_ADMIN_KEY_ID="+s.AdminID,
		"APPHOST_ADMIN_KEY_SECRET="+s.AdminKey,
	)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	s.done = make(chan error, 1)

	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "listening on "); ok {
				select {
				case found <- strings.TrimSpace(rest):
				default:
				}
			}
		}
		s.done <- cmd.Wait()
	}()
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case u := <-found:
		s.URL = u
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("the server exited before listening (%v); see %s", err, logPath)
	case <-timer.C:
		s.Stop()
		return nil, fmt.Errorf("the server did not listen within 60s; see %s", logPath)
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
}

// PID is the server's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// PeakRSSKB is the server's peak resident set size so far.
func (s *Server) PeakRSSKB() int64 { return PeakRSSKB(s.PID()) }

// Stop stops the server: SIGTERM, then SIGKILL after 15 seconds.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err // keep it for a second Stop
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		s.done <- <-s.done
	}
}

// RandomSecret returns 256 random bits as text.
func RandomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// PostgresSchema creates a throwaway schema on the database of dsn (a
// postgres:// URL) and returns a DSN whose connections use it, and a function
// that drops it.
func PostgresSchema(ctx context.Context, dsn, prefix string) (string, func(), error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return "", nil, errors.New("the PostgreSQL DSN must be a postgres:// URL (the --store form)")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, errors.New("the PostgreSQL DSN is not a valid URL")
	}
	var b [5]byte
	_, _ = rand.Read(b[:])
	schema := prefix + "_" + hex.EncodeToString(b[:])
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(cctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer func() { _ = c.Close(context.Background()) }()
		_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// rotationMSRE matches the rotation_ms field in Terraform's text log
// ("rotation_ms=12.5") and in its JSON log ("rotation_ms":12.5).
var rotationMSRE = regexp.MustCompile(`rotation_ms"?\s*[=:]\s*"?([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)`)

// ReadRotationMS returns every rotation_ms value of a provider log file
// (TF_LOG_PROVIDER=INFO, TF_LOG_PATH): the time of each RegenerateSecret
// call of the provider, its wait for the store's write lock included.
func ReadRotationMS(path string) []float64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var out []float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte("rotation_ms")) {
			continue
		}
		if m := rotationMSRE.FindSubmatch(line); m != nil {
			if v, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
				out = append(out, v)
			}
		}
	}
	return out
}

// SummaryLine is the last "Plan:", "Apply complete!" or "No changes." line
// of Terraform's output.
func SummaryLine(out []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(t, "Plan:") || strings.HasPrefix(t, "Apply complete!") || strings.HasPrefix(t, "No changes.") {
			last = t
		}
	}
	return last
}
