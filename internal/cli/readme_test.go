package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// flagLine is a flag in a command's -h output: "  --name ARG".
var flagLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)(?: [A-Z]+)?\n\s+(.*)$`)

// commandFlags returns the flags of command name, from its -h output,
// leaving out those it ignores, and its usage synopsis line.
func commandFlags(t *testing.T, name string) (flags []string, synopsis string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{name, "-h"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("%s -h: exit %d: %s", name, code, stderr.String())
	}
	help := stderr.String()
	synopsis, _, _ = strings.Cut(help, "\n")
	for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
		if strings.HasPrefix(m[2], "ignored") {
			continue
		}
		flags = append(flags, "--"+m[1])
	}
	return flags, synopsis
}

// readmeUsage returns, per command, the lines of the README's usage block
// (the code block that shows the version command) that show it: its line
// and the indented lines after it.
func readmeUsage(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for i, part := range strings.Split(string(src), "```") {
		if i%2 == 1 && strings.Contains(part, "\n"+Program+" version") {
			block = part
		}
	}
	if block == "" {
		t.Fatalf("README.md has no code block that shows %s version", Program)
	}
	out := map[string]string{}
	current := ""
	for line := range strings.SplitSeq(block, "\n") {
		if rest, ok := strings.CutPrefix(line, Program+" "); ok {
			current, _, _ = strings.Cut(rest, " ")
			out[current] += line + "\n"
		} else if current != "" && strings.HasPrefix(line, "    ") {
			out[current] += line + "\n"
		} else {
			current = ""
		}
	}
	return out
}

// The README's usage block and each command's own usage line show every
// flag the command takes (a flag it accepts and ignores aside).
func TestUsageShowsEveryFlag(t *testing.T) {
	readme := readmeUsage(t)
	checked := 0
	for _, c := range commands() {
		if c.run == nil || c.name == "version" {
			continue
		}
		flags, synopsis := commandFlags(t, c.name)
		block, ok := readme[c.name]
		if !ok {
			t.Errorf("the README's usage block has no line for %s", c.name)
		}
		for _, f := range flags {
			checked++
			// --login-backoff is not shown by --login-backoff-max.
			shown := regexp.MustCompile(regexp.QuoteMeta(f) + `(?:[^a-z0-9-]|$)`)
			if ok && !shown.MatchString(block) {
				t.Errorf("the README's usage of %s does not show %s:\n%s", c.name, f, block)
			}
			if !shown.MatchString(synopsis) {
				t.Errorf("%s -h does not show %s in its usage line: %s", c.name, f, synopsis)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d flags checked: is the -h output still parsed?", checked)
	}
	t.Logf("%d flags checked", checked)
}
