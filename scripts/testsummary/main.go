// Command testsummary turns the output of `go test -json` into what
// `go test` prints (ok and FAIL lines, and the output of failed tests only)
// and ends with a line that counts the skipped tests, says why they were
// skipped (no PostgreSQL, no Chromium, not root, ...) and how to run them.
// make test pipes its go test into it:
//
//	go test -json ./... | go run ./scripts/testsummary [-v]
//
// With -v every line of the tests' output is printed, as go test -v does.
// It exits 1 when a test, a package or a build failed, else 0.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "print every line of the tests' output")
	flag.Parse()
	if failed := summarize(os.Stdin, os.Stdout, *verbose, modulePath("go.mod")); failed {
		os.Exit(1)
	}
}

// modulePath is the module path in the go.mod file at path, or "" when
// there is none: the summary names packages without it.
func modulePath(path string) string {
	src, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(src), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	// ImportPath names the package of build-output and build-fail events.
	ImportPath string
}

// reason is a known cause of skipped tests and how to remove it.
type reason struct {
	match *regexp.Regexp
	why   string // "without PostgreSQL": the tests ran without it
	how   string
}

// reasons are matched against a skip's message in this order; a message
// that none matches is its own reason.
var reasons = []reason{
	{regexp.MustCompile(`APPHOST_TEST_POSTGRES_DSN`), "without PostgreSQL (APPHOST_TEST_POSTGRES_DSN is not set)",
		`eval "$(scripts/postgres.sh start /tmp/apphost-pg)" and make test again (scripts/postgres.sh stop /tmp/apphost-pg after)`},
	{regexp.MustCompile(`(?i)chrom(e|ium)`), "without Chromium",
		"apt-get install chromium (Debian's package), or set APPHOST_CHROMIUM to a Chromium binary"},
	{regexp.MustCompile(`(?i)network namespace`), "without network namespaces (not root, or no iproute2)",
		"run make test as root on Linux with iproute2 (ip netns)"},
	{regexp.MustCompile(`(?i)\broot\b|\bCAP_[A-Z_]+\b`), "not run as root",
		"run make test as root (in a container or VM: the tests change the machine's network or processes)"},
	{regexp.MustCompile(`TF_ACC|[Tt]erraform CLI|\btofu\b`), "without a Terraform CLI",
		"install Terraform >= 1.11 (or OpenTofu) on PATH; make test sets TF_ACC=1"},
}

// skip is one skipped test.
type skip struct {
	pkg, test, msg string
}

// summary is the state of one run.
type summary struct {
	out     io.Writer
	verbose bool
	module  string // left out of package names
	// lines holds each running test's output (without the === lines); a
	// top-level test's buffer holds its subtests' lines too, in order.
	lines  map[string][]string
	own    map[string][]string // each test's own lines, for its skip message
	passed int
	failed []string // "pkg TestName" of failed tests
	skips  []skip
	broken bool // a package or a build failed
}

// summarize copies r (go test -json) to w as go test would print it, ends
// with the skip and count lines, and reports whether anything failed.
// Package names in those lines are relative to module.
func summarize(r io.Reader, w io.Writer, verbose bool, module string) bool {
	s := &summary{out: w, verbose: verbose, module: module, lines: map[string][]string{}, own: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event (go vet or the go command itself): pass it on.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		s.event(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(w, "testsummary: reading go test -json: %v\n", err)
		s.broken = true
	}
	s.end()
	return s.broken || len(s.failed) > 0
}

func key(pkg, test string) string { return pkg + " " + test }

// top is the top-level test of a test or subtest name.
func top(test string) string {
	name, _, _ := strings.Cut(test, "/")
	return name
}

func (s *summary) event(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
	case "build-fail":
		s.broken = true
	case "output":
		if e.Test == "" {
			// Package lines: ok, FAIL, panics outside a test. PASS says
			// nothing the ok line does not.
			if e.Output != "PASS\n" || s.verbose {
				fmt.Fprint(s.out, e.Output)
			}
			return
		}
		if s.verbose {
			fmt.Fprint(s.out, e.Output)
		}
		if strings.HasPrefix(e.Output, "=== ") {
			return
		}
		k := key(e.Package, top(e.Test))
		s.lines[k] = append(s.lines[k], e.Output)
		s.own[key(e.Package, e.Test)] = append(s.own[key(e.Package, e.Test)], e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			if e.Action == "fail" {
				s.broken = true
			}
			return
		}
		k := key(e.Package, e.Test)
		switch e.Action {
		case "pass":
			s.passed++
		case "fail":
			s.failed = append(s.failed, k)
		case "skip":
			s.skips = append(s.skips, skip{pkg: e.Package, test: e.Test, msg: skipMessage(s.own[k])})
		}
		delete(s.own, k)
		if e.Test == top(e.Test) {
			if e.Action == "fail" && !s.verbose {
				fmt.Fprint(s.out, strings.Join(s.lines[k], ""))
			}
			delete(s.lines, k)
		}
	}
}

// logLine is the start of a t.Log, t.Skip or t.Error line: "    file.go:12: ".
var logLine = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: `)

// skipMessage is the last log entry of a skipped test (its t.Skip message,
// continuation lines joined), without the file:line prefix.
func skipMessage(lines []string) string {
	start := -1
	for i, l := range lines {
		if logLine.MatchString(l) {
			start = i
		}
	}
	if start < 0 {
		return "no reason given"
	}
	msg := logLine.ReplaceAllString(lines[start], "")
	for _, l := range lines[start+1:] {
		if strings.HasPrefix(strings.TrimSpace(l), "--- SKIP") {
			break
		}
		msg += " " + strings.TrimSpace(l)
	}
	return strings.TrimSpace(msg)
}

// group is the skipped tests of one reason.
type group struct {
	why, how string
	rank     int // the reason's index in reasons; len(reasons) for others
	skips    []skip
}

// groups sorts the skips by reason: largest first, then known reasons in
// their order, then the others by message.
func groups(skips []skip) []*group {
	var out []*group
	byWhy := map[string]*group{}
	for _, sk := range skips {
		why, how, rank := sk.msg, "", len(reasons)
		for i, r := range reasons {
			if r.match.MatchString(sk.msg) {
				why, how, rank = r.why, r.how, i
				break
			}
		}
		g := byWhy[why]
		if g == nil {
			g = &group{why: why, how: how, rank: rank}
			byWhy[why] = g
			out = append(out, g)
		}
		g.skips = append(g.skips, sk)
	}
	slices.SortFunc(out, func(a, b *group) int {
		return cmp.Or(len(b.skips)-len(a.skips), a.rank-b.rank, strings.Compare(a.why, b.why))
	})
	return out
}

// maxNames bounds the test names listed per reason.
const maxNames = 6

// end prints, per reason, the skipped tests and how to run them, then the
// line that counts everything.
func (s *summary) end() {
	gs := groups(s.skips)
	var whys []string
	for _, g := range gs {
		var names []string
		for i, sk := range g.skips {
			if i == maxNames {
				names = append(names, fmt.Sprintf("and %d more", len(g.skips)-maxNames))
				break
			}
			names = append(names, s.shortPackage(sk.pkg)+"."+sk.test)
		}
		how := ""
		if g.how != "" {
			how = "; to run them: " + g.how
		}
		fmt.Fprintf(s.out, "skipped %d %s %s%s\n    %s\n", len(g.skips), plural(len(g.skips)), g.why, how, strings.Join(names, ", "))
		whys = append(whys, fmt.Sprintf("%d %s", len(g.skips), g.why))
	}
	line := fmt.Sprintf("test: %d passed, %d failed, %d skipped", s.passed, len(s.failed), len(s.skips))
	if len(whys) > 0 {
		line += ": " + strings.Join(whys, ", ") + " (.ci/run runs them all)"
	}
	if len(s.failed) > 0 {
		var names []string
		for _, f := range s.failed {
			pkg, test, _ := strings.Cut(f, " ")
			names = append(names, s.shortPackage(pkg)+"."+test)
		}
		fmt.Fprintf(s.out, "failed: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintln(s.out, line)
}

func plural(n int) string {
	if n == 1 {
		return "test"
	}
	return "tests"
}

// shortPackage drops the module path: internal/server, not
// github.com/apphost/terraform-provider-apphost/internal/server.
func (s *summary) shortPackage(pkg string) string {
	if rest, ok := strings.CutPrefix(pkg, s.module+"/"); ok && s.module != "" {
		return rest
	}
	return pkg
}
