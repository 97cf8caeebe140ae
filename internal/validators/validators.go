// Package validators holds the string validators shared by the provider's
// resources and data sources.
package validators

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var (
	_ validator.String = durationValidator{}
	_ validator.String = regexValidator{}
	_ validator.String = boundedDurationValidator{}
	_ validator.String = rotationStrategyValidator{}
)

// Duration returns a validator that accepts a Go duration string such as
// "720h" or "1h30m" (time.ParseDuration), zero and negative included.
func Duration() validator.String { return durationValidator{} }

// PositiveDuration is Duration that also rejects zero and negative durations.
func PositiveDuration() validator.String { return durationValidator{positive: true} }

type durationValidator struct{ positive bool }

func (v durationValidator) Description(context.Context) string {
	if v.positive {
		return "value must be a positive Go duration such as \"720h\" or \"1h30m\""
	}
	return "value must be a Go duration such as \"720h\" or \"1h30m\""
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string {
	if v.positive {
		return "value must be a positive Go duration such as `720h` or `1h30m`"
	}
	return "value must be a Go duration such as `720h` or `1h30m`"
}

func (v durationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	d, err := time.ParseDuration(s)
	if err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is not a duration: %s. Use a Go duration with units "+
				"ns, us, ms, s, m or h, such as \"720h\" or \"1h30m\" (days are not a unit: 30 days is \"720h\").",
				s, err))
		return
	}
	if v.positive && d <= 0 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is not a positive duration. Use a duration greater than zero, such as \"720h\".", s))
	}
}

// AppTimeout returns a validator for an app's stop_timeout and
// start_timeout: the backend's rule, a positive Go duration of whole
// milliseconds up to backend.MaxAppTimeout.
func AppTimeout() validator.String {
	return boundedDurationValidator{max: backend.MaxAppTimeout, example: "10s"}
}

// OverlapPeriod returns a validator for an account's overlap_period: the
// backend's rule, a positive Go duration of whole milliseconds up to
// backend.MaxOverlapPeriod.
func OverlapPeriod() validator.String {
	return boundedDurationValidator{max: backend.MaxOverlapPeriod, example: "15m"}
}

// boundedDurationValidator accepts a positive Go duration of whole
// milliseconds up to max; example is one, for the messages.
type boundedDurationValidator struct {
	max     time.Duration
	example string
}

func (v boundedDurationValidator) Description(context.Context) string {
	return fmt.Sprintf("value must be a positive Go duration of whole milliseconds up to %s, such as \"%s\"",
		shortDuration(v.max), v.example)
}

func (v boundedDurationValidator) MarkdownDescription(context.Context) string {
	return fmt.Sprintf("value must be a positive Go duration of whole milliseconds up to `%s`, such as `%s`",
		shortDuration(v.max), v.example)
}

// shortDuration writes d as a user writes it: "24h", not "24h0m0s".
func shortDuration(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func (v boundedDurationValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	durationValidator{positive: true}.ValidateString(ctx, req, resp)
	if resp.Diagnostics.HasError() {
		return
	}
	s := req.ConfigValue.ValueString()
	d, _ := time.ParseDuration(s)
	switch {
	case d > v.max:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is longer than %s, the limit. Use a shorter duration, such as \"%s\".", s, shortDuration(v.max), v.example))
	case d%time.Millisecond != 0:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is not a whole number of milliseconds. Round it to milliseconds, such as \"1500ms\".", s))
	}
}

// RotationStrategy returns a validator for an account's rotation_strategy:
// one of backend.RotationStrategies, with an error that says what each does.
func RotationStrategy() validator.String { return rotationStrategyValidator{} }

type rotationStrategyValidator struct{}

func (rotationStrategyValidator) Description(context.Context) string {
	return fmt.Sprintf("value must be one of %q", backend.RotationStrategies)
}

func (rotationStrategyValidator) MarkdownDescription(context.Context) string {
	return "value must be `" + strings.Join(backend.RotationStrategies, "` or `") + "`"
}

func (rotationStrategyValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() || slices.Contains(backend.RotationStrategies, req.ConfigValue.ValueString()) {
		return
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid rotation strategy",
		fmt.Sprintf("%q is not a rotation strategy. Use \"%s\" (the default: stop the apps bound to the key, "+
			"regenerate its secret, start them again; the only choice when the keys of the system the apps log in to "+
			"hold one secret) or \"%s\" (a pending secret valid beside the current one, the apps moved to it one at a "+
			"time, rolled back if one does not become healthy).", req.ConfigValue.ValueString(),
			backend.StrategyStopFirst, backend.StrategyOverlap))
}

// Regex returns a validator that accepts a regular expression in Go's RE2
// syntax (regexp.Compile).
func Regex() validator.String { return regexValidator{} }

type regexValidator struct{}

func (regexValidator) Description(context.Context) string {
	return "value must be a regular expression in Go (RE2) syntax"
}

func (regexValidator) MarkdownDescription(context.Context) string {
	return "value must be a regular expression in Go ([RE2](https://github.com/google/re2/wiki/Syntax)) syntax"
}

func (regexValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if _, err := regexp.Compile(s); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid regular expression",
			fmt.Sprintf("%q is not a valid regular expression: %s. Use Go (RE2) syntax; "+
				"lookarounds and backreferences are not supported.", s, err))
	}
}

var _ validator.String = nameValidator{}

// Name returns a validator for the names of key accounts, apps, App Hosts and
// app secrets: the backend's rule (backend.NamePattern), checked at plan time
// so a bad name fails before anything is changed.
func Name() validator.String { return nameValidator{} }

type nameValidator struct{}

func (nameValidator) Description(context.Context) string {
	return fmt.Sprintf("value must be 1 to %d characters long and %s", backend.MaxNameLength, backend.NameRule)
}

func (v nameValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (nameValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	switch {
	case s == "":
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid name",
			"The name is empty. Give a name that "+backend.NameRule+".")
	case len(s) > backend.MaxNameLength:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid name",
			fmt.Sprintf("The name is %d characters long; the limit is %d. Use a shorter name.", len(s), backend.MaxNameLength))
	case !backend.NamePattern.MatchString(s):
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid name",
			fmt.Sprintf("The name %q is not valid: a name %s, such as \"siem-forwarder\".", s, backend.NameRule))
	}
}
