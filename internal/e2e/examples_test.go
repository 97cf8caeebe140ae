package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// requiredProviders is added to a copy of an example folder that does not
// declare its providers (the resource and data source examples): it names
// apphost/apphost, which the dev_overrides serve, where the implicit
// hashicorp/apphost would not be found.
const requiredProviders = `terraform {
  required_providers {
    apphost = {
      source = "apphost/apphost"
    }
  }
}
`

var (
	sourceRE    = regexp.MustCompile(`(?m)^\s*source\s*=\s*"([^"]+)"`)
	terraformRE = regexp.MustCompile(`(?m)^terraform\s*\{`)
)

// TestExamples checks that examples/ is terraform fmt clean and that every
// example folder validates against the provider's schema (terraform validate
// needs no init for a provider served by dev_overrides). hashicorp/time
// (examples/rotation-time-rotating) cannot be installed without the
// registry: its time_rotating stands in as the built-in terraform_data with
// the same arguments as input, so the apphost half of the example is still
// validated. A folder that needs any other provider is checked for format only.
func TestExamples(t *testing.T) {
	tfcli.Require(t)
	t.Parallel()
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}

	if r := tfcli.Run(t, examples, "fmt", "-check", "-diff", "-recursive"); r.Code != 0 {
		t.Errorf("examples/ is not terraform fmt clean (run make generate): %s", r)
	}

	folders := exampleFolders(t, examples)
	if len(folders) < 9 {
		t.Fatalf("found only %d example folders: %v", len(folders), folders)
	}
	for _, folder := range folders {
		rel, _ := filepath.Rel(examples, folder)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			t.Parallel()
			dir, other := copyExample(t, folder)
			if other == "hashicorp/time" {
				other = standInForTime(t, dir)
			}
			if other != "" {
				t.Skipf("needs the provider %s, which cannot be installed here", other)
			}
			if r := tfcli.Run(t, dir, "validate"); r.Code != 0 {
				t.Errorf("terraform validate: %s", r)
			}
		})
	}

	// The validation is real: a wrong attribute fails it.
	t.Run("negative", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeFile(t, dir, "main.tf", requiredProviders+`
resource "apphost_api_key_account" "k" {
  name          = "k"
  no_such_field = true
}
`)
		r := tfcli.Run(t, dir, "validate")
		if r.Code == 0 || !strings.Contains(r.Stderr, "no_such_field") {
			t.Errorf("validate of a config with an unknown attribute: %s", r)
		}
	})
}

// exampleFolders returns every folder under examples that holds .tf files.
func exampleFolders(t *testing.T, examples string) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(examples, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != examples {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			seen[filepath.Dir(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for f := range seen {
		folders = append(folders, f)
	}
	sort.Strings(folders)
	return folders
}

// copyExample copies the .tf files of folder to a temporary directory, adds
// the required_providers block when the example has no terraform block, and
// returns the directory and the first provider source other than
// apphost/apphost that the example requires, if any.
func copyExample(t *testing.T, folder string) (dir, other string) {
	t.Helper()
	dir = t.TempDir()
	entries, err := os.ReadDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	hasTerraformBlock := false
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".tf") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(folder, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if terraformRE.Match(src) {
			hasTerraformBlock = true
		}
		for _, m := range sourceRE.FindAllSubmatch(src, -1) {
			if s := string(m[1]); s != "apphost/apphost" && other == "" {
				other = s
			}
		}
		writeFile(t, dir, e.Name(), string(src))
	}
	if !hasTerraformBlock {
		writeFile(t, dir, "required_providers_test.tf", requiredProviders)
	}
	return dir, other
}

// TestTerraformTestExample runs `terraform test` on examples/terraform-test,
// the example of the "Testing with terraform test" guide: a create, a
// rotation that asserts secret_version went up by one, a plan that rotates
// nothing, on a store of its own.
func TestTerraformTestExample(t *testing.T) {
	tfcli.Require(t)
	t.Parallel()
	folder, err := filepath.Abs(filepath.Join("..", "..", "examples", "terraform-test"))
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := copyExample(t, folder)
	tests, err := filepath.Glob(filepath.Join(folder, "tests", "*.tftest.hcl"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no tests/*.tftest.hcl in %s (%v)", folder, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tests"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range tests {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "tests"), filepath.Base(f), string(src))
	}
	r := tfcli.Run(t, dir, "test")
	if r.Code != 0 || !regexp.MustCompile(`Success! \d+ passed, 0 failed`).MatchString(r.Stdout) {
		t.Fatalf("terraform test: %s", r)
	}
}

// TestTestFilesWorkUnderOpenTofu holds the examples' terraform test files to
// what OpenTofu accepts as well as Terraform: OpenTofu resolves an earlier
// run's outputs (run.NAME.OUTPUT) only in a run block's variables block and
// fails anywhere else ("There is no variable named run"). CI runs only
// Terraform, which accepts them everywhere, so the rule is checked here.
func TestTestFilesWorkUnderOpenTofu(t *testing.T) {
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(examples, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tftest.hcl") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tftest.hcl under %s (%v)", examples, err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		body, ok := file.Body.(*hclsyntax.Body)
		if !ok {
			t.Fatalf("%s: not HCL native syntax", f)
		}
		for _, r := range runReferences(body, nil) {
			rng := r.SourceRange()
			t.Errorf("%s: %s is outside a run's variables block, where OpenTofu refuses it: "+
				"read it in the run's variables block and compare var.* instead", rng, src[rng.Start.Byte:rng.End.Byte])
		}
	}
}

// runReferences returns the references to run.* in body, leaving out the
// variables blocks of run blocks; parents are the enclosing block types.
func runReferences(body *hclsyntax.Body, parents []string) []hcl.Traversal {
	var out []hcl.Traversal
	for _, a := range body.Attributes {
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() == "run" {
				out = append(out, tr)
			}
		}
	}
	for _, b := range body.Blocks {
		if b.Type == "variables" && len(parents) == 1 && parents[0] == "run" {
			continue
		}
		out = append(out, runReferences(b.Body, append(slices.Clone(parents), b.Type))...)
	}
	return out
}

var (
	timeProviderRE = regexp.MustCompile(`(?ms)^(\s*)time\s*=\s*\{.*?^\s*\}\n`)
	timeRotatingRE = regexp.MustCompile(`(?ms)^resource "time_rotating" ("[^"]+") \{\n(.*?)^\}`)
	timeBlockRE    = regexp.MustCompile(`(?m)^\s*(resource|data)\s+"time_`)
)

// standInForTime rewrites the copied example in dir for validation without
// hashicorp/time: its required_providers entry goes, each time_rotating
// becomes a terraform_data whose input holds the same arguments, and the
// references follow. It returns the provider the example still needs ("" for
// none).
func standInForTime(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	other := ""
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out := timeProviderRE.ReplaceAllString(string(src), "")
		out = timeRotatingRE.ReplaceAllString(out, "resource \"terraform_data\" $1 {\n  input = {\n$2  }\n}")
		out = strings.ReplaceAll(out, "time_rotating.", "terraform_data.")
		for _, m := range sourceRE.FindAllStringSubmatch(out, -1) {
			if m[1] != "apphost/apphost" && other == "" {
				other = m[1]
			}
		}
		writeFile(t, dir, filepath.Base(f), out)
	}
	if other == "" && timeBlockRE.MatchString(readAll(t, files)) {
		t.Fatalf("the stand-in for hashicorp/time left a time_ resource or data source in %s", dir)
	}
	return other
}

func readAll(t *testing.T, files []string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}
