package backend

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NamePattern is what account, app, app host and app secret names match: it
// keeps names safe in URLs, file names, logs and "APP/SECRET".
var NamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// NameRule says NamePattern in words, for error messages.
const NameRule = "must start with a letter or digit and contain only letters, digits, '.', '_' and '-'"

func validateName(field, v string) error {
	switch {
	case v == "":
		return InvalidField(field, "%s must not be empty", field)
	case len(v) > MaxNameLength:
		return InvalidField(field, "%s is %d characters long; the limit is %d", field, len(v), MaxNameLength)
	case !NamePattern.MatchString(v):
		return InvalidField(field, "%s %q is not valid: it %s", field, v, NameRule)
	}
	return nil
}

func validateID(field, v string) error {
	if v == "" {
		return InvalidField(field, "%s must not be empty", field)
	}
	if len(v) > MaxNameLength || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return InvalidField(field, "%s is not a valid ID", field)
	}
	return nil
}

func validateText(field, v string, limit int) error {
	if len(v) > limit {
		return InvalidField(field, "%s is %d characters long; the limit is %d", field, len(v), limit)
	}
	if !CleanText(v) {
		return InvalidField(field, "%s is not valid UTF-8 or contains a NUL byte", field)
	}
	return nil
}

// CleanText reports whether s is valid UTF-8 without NUL bytes: what every
// store can hold (PostgreSQL's text refuses both, SQLite takes them). Input
// that is not clean is refused before it reaches a store, so that SQLite and
// PostgreSQL answer alike.
func CleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// validateLogin refuses, as a failed login, credentials no store can hold.
func validateLogin(req LoginRequest) error {
	if !CleanText(req.AccountID) || !CleanText(req.Secret) {
		return errLoginFailed()
	}
	return nil
}

func validateDescription(v string) error {
	return validateText("description", v, MaxDescriptionLength)
}

func validateVersion(v string) error {
	if err := validateText("version", v, MaxNameLength); err != nil {
		return err
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return InvalidField("version", "version must not contain control characters")
	}
	return nil
}

func validateConfig(cfg map[string]string) error {
	if len(cfg) > MaxConfigEntries {
		return InvalidField("config", "config has %d entries; the limit is %d", len(cfg), MaxConfigEntries)
	}
	for k, v := range cfg {
		if k == "" {
			return InvalidField("config", "config keys must not be empty")
		}
		if len(k) > MaxConfigValueLength || !utf8.ValidString(k) {
			return InvalidField("config", "a config key is longer than %d characters or not UTF-8", MaxConfigValueLength)
		}
		if len(v) > MaxConfigValueLength || !utf8.ValidString(v) {
			return InvalidField("config", "config value of %q is longer than %d characters or not UTF-8", k, MaxConfigValueLength)
		}
	}
	return nil
}

// validateSecretValue never puts the value in its message.
func validateSecretValue(v string) error {
	switch {
	case v == "":
		return InvalidField("value", "value must not be empty; omit it to keep the stored value")
	case len(v) > MaxSecretValueLength:
		return InvalidField("value", "value is %d bytes long; the limit is %d", len(v), MaxSecretValueLength)
	}
	return nil
}
