package server

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/apiversion"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

// version answers GET /v1/version: the binary's version and the API version,
// which the provider checks before it plans anything. It needs no
// credentials; Basic credentials that come with it are checked as on any
// admin call (401, 403, 429), so one request tells a client whether the
// server is reachable, new enough, and takes its credentials.
func (s *server) version(w http.ResponseWriter, r *http.Request) error {
	info := apiversion.Info{Version: s.ver, APIVersion: apiversion.Current}
	if _, _, ok := r.BasicAuth(); ok {
		ctx, err := s.authenticate(w, r)
		if err != nil {
			return err
		}
		info.APIKeyAccount = core.ActorFrom(ctx)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// badBytes is the answer to a request that holds a NUL byte or invalid UTF-8
// where the API expects text: no store could hold it, and every store must
// answer alike.
func badBytes(where string) error {
	return badRequest("", "the request's %s holds a NUL byte or invalid UTF-8", where)
}

// cleanRequest refuses, before anything is looked up or authenticated,
// bytes that no store can hold: in the path, the query, the Basic
// credentials or the JSON body. The body is read here and put back.
func cleanRequest(r *http.Request) error {
	if !backend.CleanText(r.URL.Path) {
		return badBytes("path")
	}
	if q, err := url.QueryUnescape(r.URL.RawQuery); err == nil && !backend.CleanText(q) {
		return badBytes("query")
	}
	if id, secret, ok := r.BasicAuth(); ok && (!backend.CleanText(id) || !backend.CleanText(secret)) {
		return badBytes("credentials")
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err // 413 from MaxBytesReader, by writeError
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
