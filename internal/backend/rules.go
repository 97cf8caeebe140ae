package backend

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// The input rules every backend applies and the provider checks at plan time.

// NamePattern is what account, app, app host and app secret names match: it
// keeps names safe in URLs, file names, logs and "APP/SECRET".
var NamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// NameRule says NamePattern in words, for error messages.
const NameRule = "must start with a letter or digit and contain only letters, digits, '.', '_' and '-'"

// CleanText reports whether s is valid UTF-8 without NUL bytes: what every
// store can hold (PostgreSQL's text refuses both, SQLite takes them). Input
// that is not clean is refused before it reaches a store, so that SQLite and
// PostgreSQL answer alike.
func CleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// ValidateName checks an account, app, app host or app secret name given as
// input field: not empty, at most MaxNameLength, matching NamePattern.
func ValidateName(field, v string) error {
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

// IsAccountID reports whether s has the shape of an account ID: a UUID
// written as backends make them, 36 characters of hex digits and hyphens
// (8-4-4-4-12). Anything else is no account's ID, so a login with it needs
// no lookup and no throttle record, and its text (a secret pasted in the
// wrong field, say) is never stored.
func IsAccountID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}
