package core

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

func validateID(field, v string) error {
	if v == "" {
		return backend.InvalidField(field, "%s must not be empty", field)
	}
	if len(v) > backend.MaxNameLength || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return backend.InvalidField(field, "%s is not a valid ID", field)
	}
	return nil
}

func validateText(field, v string, limit int) error {
	if len(v) > limit {
		return backend.InvalidField(field, "%s is %d characters long; the limit is %d", field, len(v), limit)
	}
	if !backend.CleanText(v) {
		return backend.InvalidField(field, "%s is not valid UTF-8 or contains a NUL byte", field)
	}
	return nil
}

// validateLogin refuses, as a failed login, credentials no store can hold.
func validateLogin(req backend.LoginRequest) error {
	if !backend.CleanText(req.AccountID) || !backend.CleanText(req.Secret) {
		return errLoginFailed()
	}
	return nil
}

func validateDescription(v string) error {
	return validateText("description", v, backend.MaxDescriptionLength)
}

func validateVersion(v string) error {
	if err := validateText("version", v, backend.MaxNameLength); err != nil {
		return err
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return backend.InvalidField("version", "version must not contain control characters")
	}
	return nil
}

func validateConfig(cfg map[string]string) error {
	if len(cfg) > backend.MaxConfigEntries {
		return backend.InvalidField("config", "config has %d entries; the limit is %d", len(cfg), backend.MaxConfigEntries)
	}
	for k, v := range cfg {
		if k == "" {
			return backend.InvalidField("config", "config keys must not be empty")
		}
		if len(k) > backend.MaxConfigValueLength || !utf8.ValidString(k) {
			return backend.InvalidField("config", "a config key is longer than %d characters or not UTF-8", backend.MaxConfigValueLength)
		}
		if len(v) > backend.MaxConfigValueLength || !utf8.ValidString(v) {
			return backend.InvalidField("config", "config value of %q is longer than %d characters or not UTF-8", k, backend.MaxConfigValueLength)
		}
	}
	return nil
}

// validateSecretValue never puts the value in its message.
func validateSecretValue(v string) error {
	switch {
	case v == "":
		return backend.InvalidField("value", "value must not be empty; omit it to keep the stored value")
	case len(v) > backend.MaxSecretValueLength:
		return backend.InvalidField("value", "value is %d bytes long; the limit is %d", len(v), backend.MaxSecretValueLength)
	}
	return nil
}

// validateSecretNames checks an app's secret_names: valid names, no repeats.
func validateSecretNames(names []string) error {
	if len(names) > backend.MaxConfigEntries {
		return backend.InvalidField("secret_names", "secret_names has %d names; the limit is %d", len(names), backend.MaxConfigEntries)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if err := backend.ValidateName("secret_names", n); err != nil {
			return err
		}
		if seen[n] {
			return backend.InvalidField("secret_names", "secret_names lists %q twice", n)
		}
		seen[n] = true
	}
	return nil
}

// validateRuntime checks how a real App Host runs an app and returns its
// timeouts (the defaults for ""). Signals are the usual reload ones.
func validateRuntime(r backend.AppRuntime) (stop, start time.Duration, err error) {
	if len(r.Command) > backend.MaxCommandArgs {
		return 0, 0, backend.InvalidField("command", "command has %d arguments; the limit is %d", len(r.Command), backend.MaxCommandArgs)
	}
	for i, arg := range r.Command {
		if err := validateText("command", arg, backend.MaxConfigValueLength); err != nil {
			return 0, 0, err
		}
		if i == 0 && arg == "" {
			return 0, 0, backend.InvalidField("command", "command's first element is the program to run: it must not be empty")
		}
	}
	parse := func(field, v string, def time.Duration) (time.Duration, error) {
		if v == "" {
			return def, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > backend.MaxAppTimeout || d%time.Millisecond != 0 {
			return 0, backend.InvalidField(field, "%s must be a positive duration of whole milliseconds up to 24h, such as \"10s\"; got %q", field, v)
		}
		return d, nil
	}
	if stop, err = parse("stop_timeout", r.StopTimeout, backend.DefaultStopTimeout); err != nil {
		return 0, 0, err
	}
	if start, err = parse("start_timeout", r.StartTimeout, backend.DefaultStartTimeout); err != nil {
		return 0, 0, err
	}
	if r.ReloadSignal != "" && !slices.Contains(backend.ReloadSignals, r.ReloadSignal) {
		return 0, 0, backend.InvalidField("reload_signal", "reload_signal must be one of %s; got %q", strings.Join(backend.ReloadSignals, ", "), r.ReloadSignal)
	}
	return stop, start, nil
}

// rotationSettings checks an account's rotation_strategy and overlap_period
// and returns them; "" gives keepStrategy and keepPeriod (the defaults at
// create, the account's own at update).
func rotationSettings(strategy, period, keepStrategy string, keepPeriod time.Duration) (string, time.Duration, error) {
	if strategy == "" {
		strategy = keepStrategy
	}
	if !slices.Contains(backend.RotationStrategies, strategy) {
		return "", 0, backend.InvalidField("rotation_strategy", "rotation_strategy must be one of %s; got %q",
			strings.Join(backend.RotationStrategies, ", "), strategy)
	}
	if period == "" {
		return strategy, keepPeriod, nil
	}
	d, err := time.ParseDuration(period)
	if err != nil || d <= 0 || d > backend.MaxOverlapPeriod || d%time.Millisecond != 0 {
		return "", 0, backend.InvalidField("overlap_period", "overlap_period must be a positive duration of whole "+
			"milliseconds up to %s, such as \"15m\"; got %q", backend.MaxOverlapPeriod, period)
	}
	return strategy, d, nil
}
