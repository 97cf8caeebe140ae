package validators

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// FuzzDuration: Duration accepts exactly what time.ParseDuration accepts, and
// PositiveDuration exactly the positive ones; every refusal is one error on
// the attribute, and nothing panics.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"720h", "1h30m", "0", "0s", "-1h", "30d", "", " 1h", "1h ", "1.5h", ".5s", "9223372036854775807ns",
		"9223372036854775808ns", "2562047h47m16.854775807s", "1e3s", "+1s", "1µs", "1us", "h", "1hh", "\x00"} {
		f.Add(s)
	}
	ctx := context.Background()
	p := path.Root("rotation_period")
	f.Fuzz(func(t *testing.T, s string) {
		d, perr := time.ParseDuration(s)
		for _, positive := range []bool{false, true} {
			v := Duration()
			if positive {
				v = PositiveDuration()
			}
			req := validator.StringRequest{Path: p, ConfigValue: types.StringValue(s)}
			var resp validator.StringResponse
			v.ValidateString(ctx, req, &resp)
			wantErr := perr != nil || (positive && d <= 0)
			if got := resp.Diagnostics.HasError(); got != wantErr {
				t.Fatalf("positive=%v %q: error %v, want %v (%v)", positive, s, got, wantErr, resp.Diagnostics)
			}
			if wantErr {
				if n := resp.Diagnostics.ErrorsCount(); n != 1 {
					t.Fatalf("%q: %d errors, want 1", s, n)
				}
				if !strings.Contains(resp.Diagnostics.Errors()[0].Detail(), "duration") {
					t.Fatalf("%q: detail does not say what is expected: %s", s, resp.Diagnostics.Errors()[0].Detail())
				}
			}
		}
	})
}
