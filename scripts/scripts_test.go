// Package scripts_test runs the scripts behind make demo, make test and
// .ci/run, and the make targets that call them, the way a new user does.
package scripts_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// root is the repository's top directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs a command in dir with env added to tfcli.CleanEnv's, and
// returns its exit code, stdout and stderr.
func run(t *testing.T, dir string, env []string, name string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = tfcli.CleanEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// fakeInitdb makes an executable initdb under dir/VERSION/bin.
func fakeInitdb(t *testing.T, dir, version string) string {
	t.Helper()
	bin := filepath.Join(dir, version, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "initdb"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// scripts/postgres.sh uses the newest PostgreSQL that Debian's packages
// installed, whatever its version (CI installs the release's postgresql).
func TestPostgresScriptFindsTheInstalledVersion(t *testing.T) {
	lib := t.TempDir()
	fakeInitdb(t, lib, "9.6")
	fakeInitdb(t, lib, "15")
	want := fakeInitdb(t, lib, "17")
	if err := os.MkdirAll(filepath.Join(lib, "18", "bin"), 0o755); err != nil { // no initdb: not installed
		t.Fatal(err)
	}
	code, out, errOut := run(t, root(t), []string{"APPHOST_PG_LIB=" + lib}, "scripts/postgres.sh", "bindir")
	if code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("postgres.sh bindir = %d %q %s, want %q", code, out, errOut, want)
	}

	// PGBIN still says which.
	old := filepath.Join(lib, "9.6", "bin")
	code, out, errOut = run(t, root(t), []string{"APPHOST_PG_LIB=" + lib, "PGBIN=" + old}, "scripts/postgres.sh", "bindir")
	if code != 0 || strings.TrimSpace(out) != old {
		t.Errorf("postgres.sh bindir with PGBIN = %d %q %s, want %q", code, out, errOut, old)
	}
}

// Without PostgreSQL, scripts/postgres.sh says how to install it.
func TestPostgresScriptSaysHowToInstall(t *testing.T) {
	dir := root(t)
	// A PATH with the tools the script uses but no PostgreSQL.
	bin := t.TempDir()
	for _, tool := range []string{"sh", "ls", "sort", "dirname", "cat", "id"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"APPHOST_PG_LIB=" + t.TempDir(), "PATH=" + bin}
	code, out, errOut := run(t, dir, env, "/bin/sh", "scripts/postgres.sh", "start", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "apt-get install postgresql") || strings.Contains(out, "export") {
		t.Errorf("postgres.sh start without PostgreSQL: %d %q %q, want a failure that says apt-get install postgresql", code, out, errOut)
	}
}

// make demo > FILE writes plain text: no colour codes, neither its own
// headings' nor Terraform's. The demo itself must succeed.
func TestDemoWritesNoColourCodes(t *testing.T) {
	tf := tfcli.Require(t)
	if testing.Short() {
		t.Skip("the demo builds the provider and applies twice; -short skips it")
	}
	code, out, errOut := run(t, root(t), []string{"TERRAFORM=" + tf, "TMPDIR=" + t.TempDir()}, "scripts/demo.sh")
	if code != 0 {
		t.Fatalf("scripts/demo.sh: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "demo: the siem key was rotated across a real App Host") {
		t.Errorf("the demo did not end as it should:\n%s", out)
	}
	for name, text := range map[string]string{"stdout": out, "stderr": errOut} {
		if i := strings.IndexByte(text, 0x1b); i >= 0 {
			t.Errorf("the demo's %s, not a terminal, holds a colour code (ESC) at byte %d: %q", name, i, text[max(0, i-80):min(len(text), i+80)])
		}
	}
}

// make docs-validate (part of make docs-check) passes in a clone whose
// folder is not named terraform-provider-apphost: tfplugindocs is given the
// provider name instead of taking it from the folder.
func TestDocsValidateInAnyFolder(t *testing.T) {
	tfcli.Require(t)
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Skip("tfplugindocs needs terraform on PATH (it would download it otherwise)")
	}
	if testing.Short() {
		t.Skip("tfplugindocs validate builds the provider; -short skips it")
	}
	// The same tree under another folder name: tfplugindocs names the
	// provider after the working directory, which a symlink sets.
	clone := filepath.Join(t.TempDir(), "a-clone")
	if err := os.Symlink(root(t), clone); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, clone, []string{"PWD=" + clone}, "make", "--no-print-directory", "docs-validate")
	if code != 0 {
		t.Errorf("make docs-validate in %s: exit %d\n%s\n%s", clone, code, out, errOut)
	}
}
