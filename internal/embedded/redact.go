package embedded

import (
	"net/url"
	"strings"
)

// RedactStore returns a store string fit for errors, logs and files: a
// password is masked wherever it is, whatever the string's form. In a URL
// of any scheme and case (postgres://, POSTGRES://, pgx://): user:PASSWORD@
// and query parameters such as password= or sslpassword=; a URL that does not
// parse is cut to its scheme. In a key/value connection string (host=...
// password=...): the value of every key that names a password, quoted or
// not. A sqlite: store holds none.
func RedactStore(s string) string {
	if strings.HasPrefix(s, "sqlite:") {
		return s
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok && isScheme(scheme) {
		u, err := url.Parse(s)
		if err != nil {
			return scheme + "://(the rest is hidden: it does not parse and may hold a password)"
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
		}
		if u.RawQuery != "" {
			q := u.Query()
			for k := range q {
				if isPasswordKey(k) {
					q[k] = []string{"xxxxx"}
				}
			}
			u.RawQuery = q.Encode()
		}
		u.Scheme = scheme // as given: url.Parse lowers it
		return u.String()
	}
	if strings.Contains(s, "=") {
		return redactKeyValues(s)
	}
	return s
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// isPasswordKey reports whether a connection parameter holds a password
// (password, sslpassword, PGPASSWORD, ...).
func isPasswordKey(k string) bool { return strings.Contains(strings.ToLower(k), "password") }

// redactKeyValues masks the password values of a libpq key/value string:
// "key = value" pairs separated by spaces, a value either bare (up to the
// next space) or in single quotes with backslash escapes.
func redactKeyValues(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); {
		// Copy up to the next '=' and take the word before it as the key.
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			out.WriteString(s[i:])
			break
		}
		head := s[i : i+eq+1]
		out.WriteString(head)
		key := strings.TrimSpace(strings.TrimSuffix(head, "="))
		if j := strings.LastIndexAny(key, " \t\n"); j >= 0 {
			key = key[j+1:]
		}
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			out.WriteByte(' ')
			i++
		}
		start := i
		if i < len(s) && s[i] == '\'' {
			for i++; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i = min(i+1, len(s))
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				i++
			}
		}
		if isPasswordKey(key) {
			out.WriteString("xxxxx")
		} else {
			out.WriteString(s[start:i])
		}
	}
	return out.String()
}

// redactError masks the passwords of dsn in err's text: drivers quote the
// connection string in some of their errors. The error chain is kept for
// errors.Is.
func redactError(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := msg
	for _, p := range passwords(dsn) {
		if p != "" {
			out = strings.ReplaceAll(out, p, "xxxxx")
		}
	}
	if out == msg {
		return err
	}
	return &redacted{msg: out, err: err}
}

// passwords are the password strings a DSN holds, raw and decoded.
func passwords(dsn string) []string {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	for k, vs := range u.Query() {
		if isPasswordKey(k) {
			for _, v := range vs {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	return out
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
