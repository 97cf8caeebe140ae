package core

import (
	"strings"
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
