package server

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// badBytes is the answer to a request that holds a NUL byte or invalid UTF-8
// where the API expects text: no store could hold it, and every store must
// answer alike.
func badBytes(where string) error {
	return badRequest("", "the request's %s holds a NUL byte or invalid UTF-8", where)
}

// cleanRequest refuses, before anything is looked up or authenticated, a
// request that a web page made (crossSite), a body that is not JSON, and
// bytes that no store can hold: in the path, the query, the Basic
// credentials or the JSON body. The body is read here and put back.
func cleanRequest(r *http.Request) error {
	if err := crossSite(r); err != nil {
		return err
	}
	if !backend.CleanText(r.URL.Path) {
		return badBytes("path")
	}
	// Every parameter, as the handlers will read it: url.Values drops a
	// pair it cannot decode, so one bad pair must not hide another.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("", "the request's query is not valid URL encoding: write each parameter as name=value, with %%XX escapes of two hex digits")
	}
	for k, vs := range q {
		if !backend.CleanText(k) || slices.ContainsFunc(vs, func(v string) bool { return !backend.CleanText(v) }) {
			return badBytes("query")
		}
	}
	if id, secret, ok := r.BasicAuth(); ok && (!backend.CleanText(id) || !backend.CleanText(secret)) {
		return badBytes("credentials")
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	if err := jsonContent(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// JSON would turn invalid UTF-8 into U+FFFD silently and \u0000 into NUL.
	if !backend.CleanText(string(body)) || escapesNUL(string(body)) {
		return badBytes("body")
	}
	return nil
}

// escapesNUL reports whether JSON text holds the escape \u0000 (and not an
// escaped backslash followed by "u0000").
func escapesNUL(s string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], `\u0000`)
		if j < 0 {
			return false
		}
		j += i
		n := 0
		for k := j - 1; k >= 0 && s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = j + 1
	}
}

// jsonContent refuses a body that does not say it is JSON. A web page can
// send a text/plain or form body to any site without asking first (a
// "simple" request, no CORS preflight); it cannot send application/json
// there without one, which this server never grants.
func jsonContent(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "application/json" { // what clients send: no parsing on the login path
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	if ct == "" {
		ct = "none"
	} else if len(ct) > 64 {
		ct = ct[:64] + "..."
	}
	return &apiError{status: http.StatusUnsupportedMediaType, err: backend.InvalidField("Content-Type",
		"the request body must be JSON, sent with Content-Type: application/json (this one has %q)", ct)}
}

// crossSite refuses a request that a browser says a web page of another
// site made: Sec-Fetch-Site other than same-origin or none (typed by the
// user), or an Origin that is not this server. Programs (the provider, curl,
// App Hosts) send neither and are not affected. A page could otherwise have
// a visitor's browser log in (and so throttle the visitor's address) or, with
// Basic credentials the browser holds, change objects.
func crossSite(r *http.Request) error {
	site := r.Header.Get("Sec-Fetch-Site")
	origin := r.Header.Get("Origin")
	ok := site == "" || site == "same-origin" || site == "none"
	if origin != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		ok = ok && origin == scheme+"://"+r.Host
	}
	if ok {
		return nil
	}
	return &apiError{status: http.StatusForbidden, err: backend.Errorf(backend.CodeForbidden,
		"cross-site request refused: the admin API answers programs and this server's own pages, not the pages of other sites "+
			"(the request's Origin or Sec-Fetch-Site says another site made it)")}
}

// bodyError is the answer to a body that could not be read whole.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &mbe):
		return err // 413, by writeError
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &apiError{status: http.StatusRequestTimeout, err: backend.Errorf(backend.CodeInvalid,
			"the request body did not arrive within %s; send it whole, without pauses", ReadTimeout)}
	default:
		return badRequest("", "the request body was cut short: it ended before its Content-Length, or the connection broke; send it again")
	}
}
