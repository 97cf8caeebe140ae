package provider

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// dataSources lists the provider's data sources.
func dataSources() []func() datasource.DataSource {
	return []func() datasource.DataSource{
		newAPIKeyAccountDataSource,
		newAPIKeyAccountsDataSource,
		newAppDataSource,
		newAppsDataSource,
	}
}

// dataSourceBackend returns the backend the provider passes as
// ProviderData. It returns nil without a diagnostic while the provider is not
// configured yet (ProviderData nil), as the framework expects.
func dataSourceBackend(providerData any, diags *diag.Diagnostics) backend.Backend {
	if d := configured(providerData, diags); d != nil {
		return d.backend
	}
	return nil
}

// checkDataSourceConfigured adds an error when Read runs without a backend.
func checkDataSourceConfigured(b backend.Backend, diags *diag.Diagnostics) bool {
	if b == nil {
		diags.AddError("Provider not configured",
			"The apphost provider has no backend to read from. This is a bug in the provider; please report it.")
		return false
	}
	return true
}

// dsNonNilStrings returns s, or an empty slice for nil, so that the state holds
// an empty list rather than null.
func dsNonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maxNearMatches bounds the suggestions of a not-found error.
const maxNearMatches = 5

// nearMatches returns up to maxNearMatches of candidates that look like
// name, closest first: names within a small edit distance ignoring case (the
// same name in another case first), then names that contain it or are
// contained in it, then names sharing a prefix of at least three characters.
func nearMatches(name string, candidates []string) []string {
	type match struct {
		name       string
		score, tie int
	}
	want := strings.ToLower(name)
	var found []match
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if c == name {
			continue
		}
		dist := editDistance(want, lc)
		limit := max(2, len([]rune(want))/3)
		// Ties go to the name closest in the exact case.
		tie := editDistance(name, c)
		switch {
		case dist <= limit:
			found = append(found, match{c, dist, tie})
		case want != "" && (strings.Contains(lc, want) || strings.Contains(want, lc)):
			found = append(found, match{c, limit + 1 + dist, tie})
		case commonPrefixLen(want, lc) >= 3:
			found = append(found, match{c, 2*limit + 2 + dist, tie})
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].score != found[j].score {
			return found[i].score < found[j].score
		}
		if found[i].tie != found[j].tie {
			return found[i].tie < found[j].tie
		}
		return found[i].name < found[j].name
	})
	out := make([]string, 0, maxNearMatches)
	for i := 0; i < len(found) && i < maxNearMatches; i++ {
		out = append(out, found[i].name)
	}
	return out
}

// notFoundByNameDetail is the detail of a not-found-by-name error.
func notFoundByNameDetail(kind, name string, candidates []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "No %s is named %q.", kind, name)
	if near := nearMatches(name, candidates); len(near) > 0 {
		quoted := make([]string, len(near))
		for i, n := range near {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		fmt.Fprintf(&b, " Did you mean %s?", strings.Join(quoted, ", "))
	} else if len(candidates) == 0 {
		fmt.Fprintf(&b, " The backend has no %s at all.", kind)
	} else {
		fmt.Fprintf(&b, " No %s has a similar name.", kind)
	}
	b.WriteString(" Check the name (names are case-sensitive), or look it up by id.")
	return b.String()
}

func commonPrefixLen(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	n := 0
	for n < len(ra) && n < len(rb) && ra[n] == rb[n] {
		n++
	}
	return n
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
