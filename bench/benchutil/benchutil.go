// Package benchutil holds what the benchmark programs share: starting the
// apphost server (`terraform-provider-apphost serve`) on loopback, a
// throwaway PostgreSQL schema, a process's peak RSS.
package benchutil

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
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
// (SQLite keeps its key beside the database).
func StartServer(ctx context.Context, bin, store, keyFile, logPath string) (*Server, error) {
	s := &Server{AdminID: uuid.NewString(), AdminKey: RandomSecret()}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--store", store}
	if keyFile != "" {
		args = append(args, "--key-file", keyFile)
	}
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

// PeakRSSKB reads VmHWM (the peak resident set size) of a running process.
func PeakRSSKB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
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
