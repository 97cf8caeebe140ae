package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// RequestIDHeader carries the request ID: taken from the caller when it looks
// sane, else generated, and always echoed in the response and the log.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the request ID of a request's context.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// securityHeaders go on every answer (keys in canonical form).
var securityHeaders = map[string][]string{
	"X-Content-Type-Options":  {"nosniff"},
	"Cache-Control":           {"no-store"},
	"X-Frame-Options":         {"DENY"},
	"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
	"Referrer-Policy":         {"no-referrer"},
}

// requestIDPrefix makes the generated request IDs of this process unique
// across processes; a counter makes them unique within it. They need not be
// unguessable, only distinct, and cost no random read per request.
var (
	requestIDPrefix = strings.ReplaceAll(uuid.NewString(), "-", "")[:16] + "-"
	requestIDSeq    atomic.Uint64
)

// newRequestID is an ID unique to this request: PREFIX-N.
func newRequestID() string {
	b := make([]byte, 0, len(requestIDPrefix)+20)
	b = append(b, requestIDPrefix...)
	return string(strconv.AppendUint(b, requestIDSeq.Add(1), 10))
}

// statusWriter records the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware adds the request ID, security headers, the body limit, panic
// recovery and one structured log line per request. The log line holds no
// header, query or body: only what cannot carry a secret.
func (s *server) middleware(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		h := w.Header()
		h.Set(RequestIDHeader, id)
		// Creates and regenerates return secrets; no API answer is worth
		// caching. The values are shared and never appended to (Set
		// replaces them), so no request allocates them.
		for k, v := range securityHeaders {
			h[k] = v
		}

		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		// The endpoint fills in the actor once auth succeeds, for this log line.
		actor := new(string)
		ctx = context.WithValue(ctx, authedKey{}, actor)
		r = r.WithContext(ctx)
		restoreTLS(r)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "panic serving request", "request_id", id, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					s.writeError(sw, r, backend.Errorf(backend.CodeInternal, "internal error"))
				}
			}
			level := slog.LevelInfo
			if sw.status >= 500 && r.Context().Err() == nil { // not a client that went away
				level = slog.LevelError
			}
			s.log.LogAttrs(ctx, level, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.status),
				slog.Duration("duration", time.Since(start)),
				slog.Int64("bytes", sw.bytes),
				slog.String("request_id", id),
				slog.String("remote", r.RemoteAddr),
				slog.String("actor", *actor),
			)
		}()
		next(sw, r)
	})
}

// authedKey holds a *string the endpoint sets to the authenticated actor.
type authedKey struct{}

func setLoggedActor(ctx context.Context, actor string) {
	if p, ok := ctx.Value(authedKey{}).(*string); ok {
		*p = actor
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error *backend.Error `json:"error"`
}

// statusOf maps an error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case backend.CodeNotFound:
		return http.StatusNotFound
	case backend.CodeConflict, backend.CodeInUse, backend.CodeVersionMismatch, backend.CodeIdempotencyMismatch,
		backend.CodeRefused, hostapi.CodeInUse, hostapi.CodeFenced:
		return http.StatusConflict
	case backend.CodeInterrupted:
		return http.StatusGatewayTimeout
	case backend.CodeInvalid, backend.CodeStaleValue, backend.CodeNoSealedSecret:
		return http.StatusUnprocessableEntity
	case backend.CodeLoginFailed, backend.CodeUnauthorized:
		return http.StatusUnauthorized
	case backend.CodeForbidden:
		return http.StatusForbidden
	case backend.CodeLocked:
		return http.StatusLocked
	case backend.CodeUnavailable:
		return http.StatusServiceUnavailable
	case backend.CodeRateLimited:
		return http.StatusTooManyRequests
	default: // schema_newer, key_file, internal and anything unknown
		return http.StatusInternalServerError
	}
}

// writeError writes err as {"error":{...}}. Errors that are not a
// *backend.Error are logged and hidden behind a generic message.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae     *apiError
		be     *backend.Error
		status int
	)
	switch {
	case errors.As(err, &ae):
		be, status = ae.err, ae.status
	case errors.As(err, &be):
		status = statusOf(be.Code)
	default:
		be = backend.Errorf(backend.CodeInternal, "internal error (request %s)", RequestID(r.Context()))
		status = http.StatusInternalServerError
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		be = backend.Errorf(backend.CodeInvalid, "request body is larger than %d bytes", mbe.Limit)
		status = http.StatusRequestEntityTooLarge
	}
	switch {
	case status >= 500 && r.Context().Err() != nil:
		// The client went away (an App Host stopped mid long-poll): nothing
		// failed on this side.
		s.log.InfoContext(r.Context(), "request ended: the client went away", "request_id", RequestID(r.Context()))
	case status >= 500:
		// The full error (with its cause) goes to the log only.
		s.log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()),
			"code", be.Code, "error", err.Error())
	}
	if status == http.StatusUnauthorized && be.Code == backend.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="apphost", charset="UTF-8"`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	// Only the public fields: Err stays on this side (json:"-").
	out := &backend.Error{Code: be.Code, Message: be.Message, Field: be.Field, Apps: be.Apps}
	writeJSON(w, status, errorBody{Error: out})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the status is sent; a failed write has no one to tell
}
