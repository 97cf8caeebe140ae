package provider

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// TestAddErrorSaysEachThingOnce: the one error helper gives the original
// error only for what the detail has not said: the cause under an error
// whose message the detail repeats, or nothing when the detail says it all.
func TestAddErrorSaysEachThingOnce(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	wrapped := &backend.Error{Code: backend.CodeUnavailable, Message: "the server could not be reached", Err: cause}
	for _, tc := range []struct {
		name, what string
		err        error
		want       string // the original error line, "" for none
	}{
		{"a cause under a message the detail says", "The server could not be reached; start it", wrapped, cause.Error()},
		{"a message the detail does not say", "The rotation failed", wrapped, wrapped.Error()},
		{"all said", "The server could not be reached", &backend.Error{Message: "the server could not be reached"}, ""},
		{"a plain error", "It failed", fmt.Errorf("writing: %w", cause), "writing: " + cause.Error()},
		{"no error", "It failed", nil, ""},
	} {
		var diags diag.Diagnostics
		addError(&diags, path.Empty(), "Summary", tc.what, "Do this.", tc.err)
		detail := diags[0].Detail()
		_, orig, found := strings.Cut(detail, "\n\nOriginal error: ")
		if orig != tc.want || found != (tc.want != "") {
			t.Errorf("%s: detail %q, want original error %q", tc.name, detail, tc.want)
		}
	}
}
