package validators

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func run(t *testing.T, v validator.String, value types.String) bool {
	t.Helper()
	resp := &validator.StringResponse{}
	v.ValidateString(t.Context(), validator.StringRequest{
		Path:        path.Root("x"),
		ConfigValue: value,
	}, resp)
	return !resp.Diagnostics.HasError()
}

func TestDuration(t *testing.T) {
	cases := []struct {
		in             types.String
		ok, positiveOK bool
	}{
		{types.StringValue("720h"), true, true},
		{types.StringValue("1h30m"), true, true},
		{types.StringValue("0s"), true, false},
		{types.StringValue("-5m"), true, false},
		{types.StringValue("30d"), false, false},
		{types.StringValue(""), false, false},
		{types.StringValue("soon"), false, false},
		{types.StringNull(), true, true},
		{types.StringUnknown(), true, true},
	}
	for _, c := range cases {
		if got := run(t, Duration(), c.in); got != c.ok {
			t.Errorf("Duration(%s) ok = %v, want %v", c.in, got, c.ok)
		}
		if got := run(t, PositiveDuration(), c.in); got != c.positiveOK {
			t.Errorf("PositiveDuration(%s) ok = %v, want %v", c.in, got, c.positiveOK)
		}
	}
}

func TestAppTimeout(t *testing.T) {
	cases := []struct {
		in types.String
		ok bool
	}{
		{types.StringValue("10s"), true},
		{types.StringValue("1500ms"), true},
		{types.StringValue("24h"), true},
		{types.StringValue("24h0m0.001s"), false},
		{types.StringValue("1500us"), false},
		{types.StringValue("0s"), false},
		{types.StringValue("-1s"), false},
		{types.StringValue("10"), false},
		{types.StringNull(), true},
		{types.StringUnknown(), true},
	}
	for _, c := range cases {
		if got := run(t, AppTimeout(), c.in); got != c.ok {
			t.Errorf("AppTimeout(%s) ok = %v, want %v", c.in, got, c.ok)
		}
	}
	if got := AppTimeout().Description(t.Context()); !strings.Contains(got, "up to 24h,") {
		t.Errorf("AppTimeout's description = %q, want the limit as 24h", got)
	}
}

func TestOverlapPeriod(t *testing.T) {
	cases := []struct {
		in types.String
		ok bool
	}{
		{types.StringValue("15m"), true},
		{types.StringValue("15m0s"), true},
		{types.StringValue("90s"), true},
		{types.StringValue("24h"), true},
		{types.StringValue("25h"), false},
		{types.StringValue("1500us"), false},
		{types.StringValue("0s"), false},
		{types.StringValue("-15m"), false},
		{types.StringValue("15"), false},
		{types.StringNull(), true},
		{types.StringUnknown(), true},
	}
	for _, c := range cases {
		if got := run(t, OverlapPeriod(), c.in); got != c.ok {
			t.Errorf("OverlapPeriod(%s) ok = %v, want %v", c.in, got, c.ok)
		}
	}
	if got := OverlapPeriod().Description(t.Context()); !strings.Contains(got, "up to 24h,") || !strings.Contains(got, `"15m"`) {
		t.Errorf("OverlapPeriod's description = %q, want the limit as 24h and the example 15m", got)
	}
}

func TestRotationStrategy(t *testing.T) {
	for in, ok := range map[types.String]bool{
		types.StringValue("stop_first"): true,
		types.StringValue("overlap"):    true,
		types.StringValue("Overlap"):    false,
		types.StringValue("rolling"):    false,
		types.StringValue(""):           false,
		types.StringNull():              true,
		types.StringUnknown():           true,
	} {
		resp := &validator.StringResponse{}
		RotationStrategy().ValidateString(t.Context(), validator.StringRequest{Path: path.Root("x"), ConfigValue: in}, resp)
		if got := !resp.Diagnostics.HasError(); got != ok {
			t.Errorf("RotationStrategy(%s) ok = %v, want %v", in, got, ok)
		}
		if !ok {
			detail := resp.Diagnostics[0].Detail()
			if !strings.Contains(detail, `Use "stop_first"`) || !strings.Contains(detail, `or "overlap"`) {
				t.Errorf("RotationStrategy(%s): the error does not say what to use: %s", in, detail)
			}
		}
	}
}

func TestRegex(t *testing.T) {
	cases := []struct {
		in types.String
		ok bool
	}{
		{types.StringValue("^siem-"), true},
		{types.StringValue(""), true},
		{types.StringValue("a(b"), false},
		{types.StringValue("(?=x)"), false},
		{types.StringNull(), true},
		{types.StringUnknown(), true},
	}
	for _, c := range cases {
		if got := run(t, Regex(), c.in); got != c.ok {
			t.Errorf("Regex(%s) ok = %v, want %v", c.in, got, c.ok)
		}
	}
}
