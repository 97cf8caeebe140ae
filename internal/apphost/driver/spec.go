package driver

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/appconfig"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// ReloadSignals are the signals a Spec's ReloadSignal may name.
var ReloadSignals = []string{"SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"}

// Validate reports what is wrong with s, or nil: a name that is no safe
// directory name, secret names that are no safe file names or appear twice,
// config that app.config cannot hold, a config key that a secret's line
// takes, an unknown reload signal, a negative timeout. It does not require a
// Command (the virtual driver runs none).
func (s Spec) Validate() error {
	var errs []error
	if err := checkName("app name", s.Name); err != nil {
		errs = append(errs, err)
	}
	taken := map[string]string{} // app.config key -> what takes it
	for i, sec := range s.Secrets {
		if err := checkName("secret name", sec.Name); err != nil {
			errs = append(errs, fmt.Errorf("secret %d: %w", i, err))
			continue
		}
		if _, dup := taken[sec.Name]; dup {
			errs = append(errs, fmt.Errorf("secret %q is given twice", sec.Name))
			continue
		}
		taken[sec.Name] = fmt.Sprintf("secret %q", sec.Name)
		if sec.Value == "" {
			errs = append(errs, fmt.Errorf("secret %q has no value", sec.Name))
		}
		if sec.Bound() {
			if err := appconfig.CheckValue(appconfig.KeyIDKey(sec.Name), sec.AccountID); err != nil || strings.ContainsAny(sec.AccountID, " \t") {
				errs = append(errs, fmt.Errorf("secret %q: API key account ID %q is not valid", sec.Name, sec.AccountID))
			}
			taken[appconfig.KeyIDKey(sec.Name)] = fmt.Sprintf("the API key account ID of secret %q", sec.Name)
		}
	}
	keys := make([]string, 0, len(s.Config))
	for k := range s.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := appconfig.CheckKey(k); err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
			continue
		}
		if err := appconfig.CheckValue(k, s.Config[k]); err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
		}
		if by, ok := taken[k]; ok {
			errs = append(errs, fmt.Errorf("config key %q is the app.config line of %s: rename the config key", k, by))
		}
	}
	if s.ReloadSignal != "" && !slices.Contains(ReloadSignals, s.ReloadSignal) {
		errs = append(errs, fmt.Errorf("reload signal %q is not one of %s", s.ReloadSignal, strings.Join(ReloadSignals, ", ")))
	}
	if s.StopTimeout < 0 || s.StartTimeout < 0 {
		errs = append(errs, errors.New("stop and start timeouts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	return nil
}

// Settings is the app's app.config: its config, "NAME = $NAME" for each
// secret and "NAME_api_key_id = ID" for each bound one. s must be valid.
func (s Spec) Settings() map[string]string {
	out := make(map[string]string, len(s.Config)+2*len(s.Secrets))
	for k, v := range s.Config {
		out[k] = v
	}
	for _, sec := range s.Secrets {
		out[sec.Name] = appconfig.SecretRef(sec.Name)
		if sec.Bound() {
			out[appconfig.KeyIDKey(sec.Name)] = sec.AccountID
		}
	}
	return out
}

// ValidateName reports why name cannot be an app's name (it names the app's
// directory), or nil.
func ValidateName(name string) error { return checkName("app name", name) }

func checkName(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("the %s is empty", what)
	case len(v) > backend.MaxNameLength:
		return fmt.Errorf("the %s is %d characters long; the limit is %d", what, len(v), backend.MaxNameLength)
	case !utf8.ValidString(v) || !backend.NamePattern.MatchString(v):
		return fmt.Errorf("the %s %q %s", what, v, backend.NameRule)
	}
	return nil
}
