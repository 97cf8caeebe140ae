package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// The one way to build an error diagnostic, for the provider, its resources
// and data sources alike: a short summary, then what happened, what to do,
// and the original error (left out when the detail already says it).

// addError adds an error diagnostic, on attr when one attribute is at fault
// (path.Empty() when none is). what and todo are sentences; err may be nil.
func addError(diags *diag.Diagnostics, attr path.Path, summary, what, todo string, err error) {
	detail := strings.TrimSpace(sentence(what) + " " + sentence(todo))
	if orig := unsaid(detail, err); orig != "" {
		detail += "\n\nOriginal error: " + orig
	}
	if attr.Equal(path.Empty()) {
		diags.AddError(summary, detail)
		return
	}
	diags.AddAttributeError(attr, summary, detail)
}

// sentence is s with a capital first letter and a final full stop, or "".
func sentence(s string) string {
	s = capitalize(strings.TrimSpace(s))
	if s != "" && !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") {
		s += "."
	}
	return s
}

// capitalize is s with a capital first letter.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// unsaid is the part of err that detail does not already say: the first
// error down err's chain whose own message is not in detail, or "" when
// detail says all of it.
func unsaid(detail string, err error) string {
	said := strings.ToLower(detail)
	for err != nil {
		own := err.Error()
		switch e := err.(type) {
		case *backend.Error:
			own = e.Message
		case *client.ServerError:
			own = e.Message
		}
		if !strings.Contains(said, strings.ToLower(strings.TrimSuffix(own, "."))) {
			return err.Error()
		}
		err = errors.Unwrap(err)
	}
	return ""
}

// addBackendError adds the error of a failed backend call: what happened,
// what to do for the error's code, and the original error. An invalid field
// of the request is reported on the matching attribute when there is one.
func addBackendError(diags *diag.Diagnostics, summary, what string, err error) {
	attr := path.Empty()
	var be *backend.Error
	if errors.As(err, &be) && attrNames[be.Field] {
		attr = path.Root(be.Field)
	}
	addError(diags, attr, summary, what, backendTodo(err), err)
}

// backendTodo says what to do about a failed backend call, by its code.
func backendTodo(err error) string {
	switch backend.CodeOf(err) {
	case backend.CodeNotFound:
		return "The object does not exist in the backend (any more). Refresh (an apply with -refresh-only) or check the ID."
	case backend.CodeConflict:
		return "A name is already taken, or the object changed concurrently. Choose another name, or import the existing object."
	case backend.CodeInvalid:
		return "The backend rejected the input. Correct the configuration."
	case backend.CodeStaleValue:
		return "Remove value (or value_wo and value_wo_version) from this bound app secret: the backend fills it " +
			"with the account's current secret, and reseals it at every rotation."
	case backend.CodeNoSealedSecret:
		return "Rotate that API key account once (change its rotation_triggers and apply), then apply again."
	case backend.CodeVersionMismatch:
		return "Plan (or apply) again."
	case backend.CodeInUse:
		return "Remove those apphost_app_secret resources (in this configuration or the one that manages them) or " +
			"bind them to another key account, or delete those apps; then destroy the account again."
	case backend.CodeUnavailable:
		return "The backend is unavailable or busy: for a remote backend, check that the apphost server at the endpoint " +
			"runs and is reachable; for the embedded one, that its store is not locked by another process. Then try again."
	case backend.CodeUnauthorized:
		return "Check the provider's api_key_id and api_key_secret."
	case backend.CodeForbidden:
		return "The provider's api_key_id is not an admin API key account: use an admin account's ID and secret."
	case backend.CodeRateLimited:
		return "Wait for the time the original error names, then check api_key_id and api_key_secret."
	case backend.CodeSchemaNewer:
		return "The store was written by a newer version of apphost. Upgrade the provider."
	case backend.CodeKeyFile:
		return "The store's encryption key file is missing or unreadable. Restore it next to the store."
	}
	return "Check the backend, then try again."
}

// attrNames are the attribute names a backend's invalid field can map to.
var attrNames = map[string]bool{
	"name": true, "description": true, "app_host": true, "version": true, "config": true,
	"value": true, "api_key_account_id": true, "command": true, "secret_names": true, "stop_timeout": true,
	"start_timeout": true, "reload_signal": true,
}

// addRotationError explains a failed rotation: refused because the account
// moved on since the plan, of unknown outcome, or rolled back.
func addRotationError(diags *diag.Diagnostics, name, id string, version int64, err error) {
	summary, what, todo := "Error rotating API key account secret", "", backendTodo(err)
	switch {
	case backend.IsVersionMismatch(err):
		summary = "API key account was rotated since the plan was made"
		what = fmt.Sprintf("The secret of API key account %q (%s) was not rotated: its secret_version is no longer %d, "+
			"the version this plan meant to replace; another apply or a change outside Terraform rotated it after "+
			"the plan was made.", name, id, version)
	case backend.IsUnavailable(err):
		what = fmt.Sprintf("The rotation of API key account %q (%s) may or may not have happened: the backend could not "+
			"be reached, or its answer was lost. Either way each app bound to the key runs on a secret it holds.", name, id)
		todo = "Apply again: its refresh reads the account as it is, and if the rotation went through, the plan " +
			"adopts it instead of rotating again."
	case backend.IsInterrupted(err):
		summary = "Stopped waiting for the rotation of an API key account"
		what = fmt.Sprintf("The apply stopped waiting for the rotation of API key account %q (%s) (interrupted, or its "+
			"timeouts.update ran out). The rotation goes on in the backend: it ends with every app bound to the key "+
			"running, on the new secret or on the current one.", name, id)
		todo = "Apply again later: its refresh reports the rotation's outcome, and adopts it if it regenerated the " +
			"secret. terraform-provider-apphost rotations shows where it is."
	case backend.IsRefused(err):
		summary = "Rotation of API key account refused"
		what = fmt.Sprintf("The rotation of API key account %q (%s) was refused before it regenerated anything: "+
			"every app bound to the key runs on the current secret, as before.", name, id)
		todo = "Do what the original error says about the App Hosts, then apply again."
	default:
		what = fmt.Sprintf("The secret of API key account %q (%s) was not rotated: the backend rolled the rotation back, "+
			"so the account keeps its current secret and every app bound to it runs as before.", name, id)
	}
	addError(diags, path.Empty(), summary, what, todo, err)
}

// addRotationFailures explains a rotation that regenerated the secret but
// whose apps did not all become healthy with it.
func addRotationFailures(diags *diag.Diagnostics, name, id string, r *backend.Rotation) {
	var failed []string
	for _, st := range r.Steps {
		if st.Phase == backend.StepFailed {
			failed = append(failed, fmt.Sprintf("%s (%s)", st.AppName, st.Detail))
		}
	}
	addError(diags, path.Empty(), "Apps did not become healthy after the rotation of an API key account",
		fmt.Sprintf("API key account %q (%s) was rotated to secret_version %d, which the state records, but these "+
			"apps did not become healthy with the new secret: %s.", name, id, r.ToVersion, strings.Join(failed, "; ")),
		"Fix the apps (their status_detail says why; the App Host keeps each app's log under its directory), then "+
			"apply again: the next plan redeploys them.", nil)
}

// addRotationRolledBack explains an overlap rotation that was rolled back:
// an app did not become healthy on the pending secret (or overlap_period
// would have run out), every app moved went back, and the key is as it was.
func addRotationRolledBack(diags *diag.Diagnostics, name, id string, version int64, r *backend.Rotation) {
	why := strings.TrimSuffix(r.Error, ".")
	if why == "" {
		// The backend's error names the app and its status_detail; without
		// one, the steps say which app failed.
		var failed []string
		for _, st := range r.Steps {
			if st.Phase == backend.StepFailed || st.Detail != "" {
				failed = append(failed, fmt.Sprintf("app %q: %s", st.AppName, strings.TrimSuffix(st.Detail, ".")))
			}
		}
		why = strings.Join(failed, "; ")
	}
	addError(diags, path.Empty(), fmt.Sprintf("Rotation of API key account %q rolled back", name),
		fmt.Sprintf("The overlap rotation %s of API key account %q (%s) was rolled back: %s. The state keeps the key "+
			"as it was (secret_version %d, the same secret), and nothing is locked.", r.ID, name, id, why, version),
		"Fix the app (its status_detail says why; a real App Host keeps each app's log under its directory), or set "+
			"a longer overlap_period if it ran out; then apply again: the plan rotates again.", nil)
}

// addServerCheckError explains why Configure refused a remote server: on
// the attribute to fix, with the client's account of what happened and
// what to do.
func addServerCheckError(diags *diag.Diagnostics, err error) {
	summary, attr := "Cannot reach the apphost server", path.Root("endpoint")
	var se *client.ServerError
	if errors.As(err, &se) {
		switch se.Kind {
		case client.ServerCredentials:
			summary, attr = "The apphost server rejected the provider's credentials", path.Root("api_key_secret")
		case client.ServerTooOld:
			summary = "The apphost server is too old for this provider"
		}
	}
	addError(diags, attr, summary, err.Error(), "", err)
}

// kind is a kind of object, as messages name it.
type kind struct {
	// name is the kind in a sentence: "API key account".
	name string
	// resourceType and listDataSource are its resource and the data source
	// that lists them.
	resourceType, listDataSource string
}

var (
	kindAccount = kind{"API key account", "apphost_api_key_account", "apphost_api_key_accounts"}
	kindApp     = kind{"app", "apphost_app", "apphost_apps"}
)

// addNotFoundByID reports on attr that no object of kind k has the ID id.
func addNotFoundByID(diags *diag.Diagnostics, attr path.Path, k kind, id string) {
	addError(diags, attr, capitalize(k.name)+" not found",
		fmt.Sprintf("No %s has the ID %q in the backend; it may have been deleted.", k.name, id),
		fmt.Sprintf("Use the id of a managed resource (%s.<name>.id), or look one up by name with the %s data "+
			"source, or list them with %s.", k.resourceType, k.resourceType, k.listDataSource), nil)
}

// addNotFoundByName reports on attr that no object of kind k is named name,
// and suggests the names of candidates that look like it.
func addNotFoundByName(diags *diag.Diagnostics, attr path.Path, k kind, name string, candidates []string, listErr error) {
	var what strings.Builder
	fmt.Fprintf(&what, "No %s is named %q.", k.name, name)
	switch near := nearMatches(name, candidates); {
	case listErr != nil:
		fmt.Fprintf(&what, " Similar names could not be listed (%s).", listErr)
	case len(near) > 0:
		quoted := make([]string, len(near))
		for i, n := range near {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		fmt.Fprintf(&what, " Did you mean %s?", strings.Join(quoted, ", "))
	case len(candidates) == 0:
		fmt.Fprintf(&what, " The backend has no %s at all.", k.name)
	default:
		fmt.Fprintf(&what, " No %s has a similar name.", k.name)
	}
	addError(diags, attr, capitalize(k.name)+" not found", what.String(),
		"Check the name (names are case-sensitive), or look it up by id.", nil)
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

// maskSecrets masks the log fields that may hold a secret.
func maskSecrets(ctx context.Context) context.Context {
	return tflog.MaskFieldValuesWithFieldKeys(ctx, "secret", "value", "value_wo", "api_key_secret")
}
