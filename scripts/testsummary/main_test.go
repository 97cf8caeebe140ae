package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module is a small Go module whose tests pass, fail and skip for the
// reasons make test meets, so that the summary is checked against what the
// real go test -json prints.
var module = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.22\n",
	"a/a_test.go": `package a

import "testing"

func TestPasses(t *testing.T) { t.Log("a line of a passing test") }

func TestNeedsPostgres(t *testing.T) {
	t.Skip("APPHOST_TEST_POSTGRES_DSN is not set; start a database with: eval ...")
}

func TestNeedsPostgresToo(t *testing.T) {
	t.Skipf("%s is not set", "APPHOST_TEST_POSTGRES_DSN")
}

func TestBrowser(t *testing.T) {
	t.Parallel()
	t.Skip("no Chromium on PATH (apt-get install chromium); set APPHOST_REQUIRE_CHROMIUM=1 to make this a failure")
}

func TestNetwork(t *testing.T) { t.Skip("needs root: changes the firewall") }

func TestNamespace(t *testing.T) {
	t.Skip("network namespaces are unavailable (not root): run the tests as root on Linux with iproute2 (set APPHOST_REQUIRE_NETNS=1 to make this a failure)")
}

func TestOther(t *testing.T) {
	t.Log("an earlier line")
	t.Skip("the moon is full")
}

func TestFails(t *testing.T) {
	t.Log("context of the failure")
	t.Error("boom")
}

func TestSubtests(t *testing.T) {
	t.Run("good", func(t *testing.T) { t.Log("fine") })
	t.Run("bad", func(t *testing.T) { t.Fatal("sub boom") })
	t.Run("skipped", func(t *testing.T) { t.Skip("APPHOST_TEST_POSTGRES_DSN is not set") })
}
`,
	"b/b_test.go": `package b

import "testing"

func TestB(t *testing.T) {}
`,
	"c/c.go": "package c\n",
}

// goTestJSON writes files into a fresh module and returns what go test
// -json ./... prints there.
func goTestJSON(t *testing.T, files map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && bytes.Count(out, []byte("\n")) < 5 {
		t.Fatalf("go test -json: %v\n%s%s", err, out, stderr.Bytes())
	}
	return out
}

func TestSummary(t *testing.T) {
	var out bytes.Buffer
	failed := summarize(bytes.NewReader(goTestJSON(t, module)), &out, false, "example.com/m")
	text := out.String()
	t.Logf("summary:\n%s", text)
	if !failed {
		t.Error("a run with failed tests was not reported as failed")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	last := lines[len(lines)-1]

	for _, want := range []string{
		"ok  \texample.com/m/b",
		"FAIL\texample.com/m/a",
		"--- FAIL: TestFails",
		"context of the failure",
		"boom",
		"--- FAIL: TestSubtests/bad",
		"sub boom",
		// How to run each kind of skipped test.
		"skipped 3 tests without PostgreSQL (APPHOST_TEST_POSTGRES_DSN is not set); to run them: eval \"$(scripts/postgres.sh start",
		"a.TestNeedsPostgres, a.TestNeedsPostgresToo, a.TestSubtests/skipped",
		"skipped 1 test without Chromium; to run them: apt-get install chromium",
		"skipped 1 test not run as root; to run them: run make test as root",
		"skipped 1 test without network namespaces (not root, or no iproute2); to run them: run make test as root on Linux with iproute2",
		"skipped 1 test the moon is full\n",
		"failed: a.TestFails, a.TestSubtests/bad, a.TestSubtests\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	// Passing tests and the === lines of go test -json stay quiet.
	for _, unwanted := range []string{"a line of a passing test", "=== RUN", "\nPASS\n", "an earlier line"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("the summary has %q", unwanted)
		}
	}
	const wantLast = "test: 3 passed, 3 failed, 7 skipped: 3 without PostgreSQL (APPHOST_TEST_POSTGRES_DSN is not set), " +
		"1 without Chromium, 1 without network namespaces (not root, or no iproute2), 1 not run as root, 1 the moon is full (.ci/run runs them all)"
	if last != wantLast {
		t.Errorf("last line\n%s\nwant\n%s", last, wantLast)
	}
}

func TestSummaryPassing(t *testing.T) {
	var out bytes.Buffer
	failed := summarize(bytes.NewReader(goTestJSON(t, map[string]string{
		"go.mod":      module["go.mod"],
		"b/b_test.go": module["b/b_test.go"],
		"c/c.go":      module["c/c.go"],
	})), &out, false, "example.com/m")
	if failed {
		t.Errorf("a passing run was reported as failed:\n%s", out.String())
	}
	if want := "test: 1 passed, 0 failed, 0 skipped\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("summary\n%s\nwant it to end with %q", out.String(), want)
	}
}

func TestSummaryBuildFailure(t *testing.T) {
	var out bytes.Buffer
	failed := summarize(bytes.NewReader(goTestJSON(t, map[string]string{
		"go.mod":      module["go.mod"],
		"b/b_test.go": module["b/b_test.go"],
		"d/d_test.go": "package d\n\nimport \"testing\"\n\nfunc TestD(t *testing.T) { undefined() }\n",
	})), &out, false, "example.com/m")
	if !failed {
		t.Errorf("a run with a build failure was reported as passing:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "undefined: undefined") {
		t.Errorf("the summary does not show the build error:\n%s", out.String())
	}
}

func TestModulePath(t *testing.T) {
	if got, want := modulePath(filepath.Join("..", "..", "go.mod")), "github.com/apphost/terraform-provider-apphost"; got != want {
		t.Errorf("modulePath(go.mod) = %q, want %q", got, want)
	}
	if got := modulePath(filepath.Join(t.TempDir(), "go.mod")); got != "" {
		t.Errorf("modulePath of a missing file = %q", got)
	}
}
