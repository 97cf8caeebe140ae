package exec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/appconfig"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

// writeFileAtomic replaces path with data: written to a temporary file in
// the same directory (a name that starts with '.', which no app or secret
// name does), synced, renamed over path, and the directory synced. A reader
// sees the old content or the new, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeIfChanged writes data to path unless path already holds it, so that
// a Start of an app that runs with the same files changes nothing.
func writeIfChanged(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return nil
		}
	}
	return writeFileAtomic(path, data, perm)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

// mkdirPrivate makes dir (0700), and makes an existing one 0700.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// writeAppFiles writes spec's app.config and secret files into appDir and
// removes the secret files that spec no longer has.
func writeAppFiles(appDir string, spec driver.Spec) error {
	if err := mkdirPrivate(appDir); err != nil {
		return err
	}
	cfg, err := appconfig.Render(spec.Settings())
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(appDir, appconfig.FileName), cfg, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", appconfig.FileName, err)
	}
	secDir := filepath.Join(appDir, appconfig.SecretsDir)
	if err := mkdirPrivate(secDir); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, s := range spec.Secrets {
		keep[s.Name] = true
		if err := writeIfChanged(filepath.Join(secDir, s.Name), []byte(s.Value), 0o600); err != nil {
			// The error names the file, never the value.
			return fmt.Errorf("writing secret file %s: %w", filepath.Join(appconfig.SecretsDir, s.Name), err)
		}
	}
	return pruneSecrets(secDir, keep)
}

// removeSecrets removes every secret file of the app in appDir.
func removeSecrets(appDir string) error {
	return pruneSecrets(filepath.Join(appDir, appconfig.SecretsDir), nil)
}

// pruneSecrets removes the files in secDir that keep does not name (left-over
// temporary files included).
func pruneSecrets(secDir string, keep map[string]bool) error {
	ents, err := os.ReadDir(secDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if keep[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(secDir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if len(ents) > 0 {
		errs = append(errs, syncDir(secDir))
	}
	return errors.Join(errs...)
}
