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
