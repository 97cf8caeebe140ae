package embedded

import (
	"net/url"
	"strings"
)

// RedactStore returns a store string fit for errors, logs and files: the
// password of a postgres:// URL is masked wherever it is (user:PASSWORD@ and
// ?password=... or sslpassword=...), and a URL that does not parse is cut to
// its scheme.
func RedactStore(s string) string {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		scheme, _, _ := strings.Cut(s, "://")
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
			if strings.Contains(strings.ToLower(k), "password") {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
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
		if strings.Contains(strings.ToLower(k), "password") {
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
