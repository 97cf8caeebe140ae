package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// host refuses bad input before it does anything, with a usage error that
// says what to do, and never shows the secret.
func TestHostBadInput(t *testing.T) {
	t.Setenv(EnvAPIKeyID, "")
	const secret = "the-host-secret-0123456789abcdefghijklmnopq"
	dir := t.TempDir()
	write := func(name, content string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := write("good", secret+"\n", 0o600)
	readable := write("readable", secret+"\n", 0o644)
	groupRead := write("group", secret+"\n", 0o640)
	empty := write("empty", "\n", 0o600)
	twoLines := write("two", secret+"\nmore\n", 0o600)
	hostDir := filepath.Join(dir, "host")
	base := func(extra ...string) []string {
		return append([]string{"host", "--name", "east", "--endpoint", "https://apphost.example:8443", "--key-id", "k-1",
			"--dir", hostDir}, extra...)
	}
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"no name", []string{"host", "--endpoint", "https://x", "--secret-file", good}, "--name is required"},
		{"no endpoint", []string{"host", "--name", "east", "--secret-file", good}, "--endpoint is required"},
		{"no secret file", base(), "--secret-file is required"},
		{"no key ID", []string{"host", "--name", "east", "--endpoint", "https://x", "--secret-file", good}, "APPHOST_API_KEY_ID"},
		{"secret readable by others", base("--secret-file", readable), "chmod 600 " + readable},
		{"secret readable by the group", base("--secret-file", groupRead), "chmod 600"},
		{"secret file missing", base("--secret-file", filepath.Join(dir, "nope")), "no such file"},
		{"secret file empty", base("--secret-file", empty), "is empty"},
		{"secret file of two lines", base("--secret-file", twoLines), "more than one line"},
		{"secret file a directory", base("--secret-file", dir), "not a regular file"},
		{"bad name", []string{"host", "--name", "east/1", "--endpoint", "https://x", "--key-id", "k", "--secret-file", good}, "App Host name"},
		{"plain http to another machine", []string{"host", "--name", "east", "--endpoint", "http://10.1.2.3:8080", "--key-id", "k",
			"--secret-file", good}, "plain http://"},
		{"not a URL", []string{"host", "--name", "east", "--endpoint", "ftp://x", "--key-id", "k", "--secret-file", good}, "not an http:// or https:// URL"},
		{"credentials in the URL", []string{"host", "--name", "east", "--endpoint", "https://u:hunter2@x", "--key-id", "k",
			"--secret-file", good}, "holds credentials"},
		{"unknown driver", base("--secret-file", good, "--driver", "docker"), `driver "docker" is not one of exec`},
		{"key ID with a colon", []string{"host", "--name", "east", "--endpoint", "https://x", "--key-id", "a:b", "--secret-file", good}, "not an API key account ID"},
		{"extra argument", base("--secret-file", good, "extra"), `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.err) {
				t.Errorf("exit %d, stderr:\n%s\nwant %d and %q", code, stderr, exitUsage, tt.err)
			}
			for _, out := range []string{stdout, stderr} {
				if strings.Contains(out, secret) || strings.Contains(out, "hunter2") {
					t.Errorf("output shows a secret:\n%s", out)
				}
			}
		})
	}
	if _, err := os.Stat(hostDir); !os.IsNotExist(err) {
		t.Errorf("a refused host made its directory (%v)", err)
	}
}
