package exec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The app's log: its stdout and stderr, appended by the app itself (so that
// it outlives the App Host process), bounded by a copy and truncate when it
// grows past the limit, with one old file kept.
const (
	logFile    = "log"
	oldLogFile = "log.1"
	// tailLines and tailBytes bound LogTail.
	tailLines = 20
	tailBytes = 2048
)

func openLog(appDir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(appDir, logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// rotateLog moves the log to log.1 when it is larger than limit: the content
// is copied to log.1 and the log truncated in place. The app writes with
// O_APPEND, so it goes on at the start of the emptied file; what it writes
// between the copy and the truncation is lost (logrotate's copytruncate).
func rotateLog(appDir string, limit int64) error {
	path := filepath.Join(appDir, logFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Size() <= limit {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	dst, err := os.CreateTemp(appDir, "."+oldLogFile+".tmp-*")
	if err != nil {
		return err
	}
	tmp := dst.Name()
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(appDir, oldLogFile)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Truncate(path, 0)
}

// logTail returns the last lines of the app's log (at most tailLines lines
// and tailBytes bytes), "" when there is none.
func logTail(appDir string) string {
	f, err := os.Open(filepath.Join(appDir, logFile))
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-4*tailBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	if off > 0 {
		// Drop the first, likely partial, line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	lines := strings.Split(strings.ToValidUTF8(string(b), "\uFFFD"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	s := strings.Join(lines, "\n")
	if len(s) > tailBytes {
		s = strings.ToValidUTF8(s[len(s)-tailBytes:], "")
	}
	return s
}
