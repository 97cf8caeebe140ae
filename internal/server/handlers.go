package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// maxIdempotencyKeyLength bounds the header; UUIDs are 36 characters.
const maxIdempotencyKeyLength = 255

// decodeJSON reads exactly one JSON object into v, refusing unknown fields.
// An empty body leaves v as it is when allowEmpty is set.
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && allowEmpty {
			return nil
		}
		return jsonError(err)
	}
	// A second value (or garbage) after the object is a malformed request.
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("", "request body must hold a single JSON object")
	}
	return nil
}

// jsonError turns a decoding failure into a 400 that says what is wrong.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return err // 413, by writeError
	case errors.Is(err, io.EOF):
		return badRequest("", "request body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "request body is truncated JSON")
	case errors.As(err, &syn):
		return badRequest("", "request body is malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("", "request body must be a JSON object")
		}
		want := jsonKind(typ.Type.Kind().String())
		if want == "number" && strings.HasPrefix(typ.Value, "number") {
			return badRequest(typ.Field, "field %q must be a whole number from 0 to %d, not %s", typ.Field, int64(math.MaxInt64), shortValue(typ.Value))
		}
		return badRequest(typ.Field, "field %q must be a JSON %s, not %s", typ.Field, want, shortValue(typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(field, "unknown field %q in request body", field)
	default:
		return badRequest("", "request body is not valid JSON: %v", err)
	}
}

// shortValue is a value from the request for an error message: whole when
// short, else its start and its length (a 4 MB number is not echoed).
func shortValue(v string) string {
	const limit = 40
	if len(v) <= limit {
		return v
	}
	return fmt.Sprintf("%s... (%d characters)", strings.ToValidUTF8(v[:limit], ""), len(v))
}

func jsonKind(k string) string {
	switch k {
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "string":
		return "string"
	default:
		return "number"
	}
}

// boolQuery parses an optional boolean query parameter.
func boolQuery(q url.Values, name string) (*bool, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, badRequest(name, "query parameter %s must be true or false, not %q", name, v)
	}
	return &b, nil
}

// intQuery parses an optional non-negative integer query parameter.
func intQuery(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(name, "query parameter %s must be a non-negative integer, not %q", name, v)
	}
	return n, nil
}

// checkQuery refuses parameters the route does not know, like unknown fields.
func checkQuery(q url.Values, known ...string) error {
	for k := range q {
		found := false
		for _, n := range known {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			return badRequest(k, "unknown query parameter %q", k)
		}
	}
	return nil
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	// A cheap read proves the store answers, so a load balancer can drain a
	// server that lost its database.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.b.ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: math.MaxInt64, Limit: 1}); err != nil {
		s.log.WarnContext(r.Context(), "health check failed", "request_id", RequestID(r.Context()), "error", err.Error())
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *server) openapi(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	// The document holds no secret; let clients cache it briefly.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDocument)
	return nil
}

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var req backend.LoginRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	// An app says who it is; the backend checks the token before it counts.
	req.App, req.AppToken = r.Header.Get(hostapi.HeaderApp), r.Header.Get(hostapi.HeaderAppToken)
	err := s.limitedLogin(w, r, req.AccountID, func(ctx context.Context) error {
		return s.networkLogin(core.WithActor(ctx, anonymousActor), req)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// accounts

func (s *server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := checkQuery(q, "locked"); err != nil {
		return err
	}
	locked, err := boolQuery(q, "locked")
	if err != nil {
		return err
	}
	list, err := s.b.ListAccounts(r.Context(), backend.ListAccountsRequest{Locked: locked})
	if err != nil {
		return err
	}
	if list == nil {
		list = []backend.Account{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": list})
	return nil
}

func (s *server) createAccount(w http.ResponseWriter, r *http.Request) error {
	var req backend.CreateAccountRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	a, err := s.b.CreateAccount(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/accounts/"+url.PathEscape(a.ID))
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *server) getAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.b.GetAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) getAccountByName(w http.ResponseWriter, r *http.Request) error {
	a, err := s.b.GetAccountByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) updateAccount(w http.ResponseWriter, r *http.Request) error {
	var req backend.UpdateAccountRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	req.ID = r.PathValue("id")
	a, err := s.b.UpdateAccount(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	if err := s.b.DeleteAccount(r.Context(), backend.DeleteAccountRequest{ID: r.PathValue("id")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// regenerate starts a rotation of the account. With Prefer: respond-async
// it answers 202 with the rotation at once and drives it in the background
// (the client polls GET /v1/rotations/{id}, then asks for the result);
// otherwise it answers 200 with the result when the rotation has ended. The
// body is optional; the ID is in the path and the idempotency key in its
// header, which makes a regenerate safe to repeat.
func (s *server) regenerate(w http.ResponseWriter, r *http.Request) error {
	var req backend.RegenerateRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	req.ID, req.IdempotencyKey = r.PathValue("id"), r.Header.Get(backend.IdempotencyKeyHeader)
	if len(req.IdempotencyKey) > maxIdempotencyKeyLength {
		return badRequest(backend.IdempotencyKeyHeader, "%s header is longer than %d characters",
			backend.IdempotencyKeyHeader, maxIdempotencyKeyLength)
	}
	if s.rotations != nil && preferAsync(r) {
		rot, err := s.rotations.StartRotation(r.Context(), req)
		if err != nil {
			return err
		}
		if !rot.Ended() {
			s.drive(r.Context(), rot.ID)
		}
		w.Header().Set("Preference-Applied", "respond-async")
		w.Header().Set("Location", "/v1/rotations/"+url.PathEscape(rot.ID))
		writeJSON(w, http.StatusAccepted, rot)
		return nil
	}
	a, err := s.b.RegenerateSecret(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// preferAsync reports whether the request's Prefer header asks for an
// asynchronous answer (RFC 7240).
func preferAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(strings.SplitN(p, ";", 2)[0]), "respond-async") {
				return true
			}
		}
	}
	return false
}

// drive carries the rotation on in the background, beyond the request:
// the server owns it under its lease until it ended (or the server stops,
// and another driver takes it over once the lease expired).
func (s *server) drive(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	go func() {
		if err := s.rotations.DriveRotation(ctx, id); err != nil {
			s.log.Warn("rotation driver stopped", "rotation", id, "error", err)
		}
	}()
}

func (s *server) listRotations(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := checkQuery(q, "api_key_account_id", "active", "limit"); err != nil {
		return err
	}
	active, err := boolQuery(q, "active")
	if err != nil {
		return err
	}
	limit, err := intQuery(q, "limit")
	if err != nil {
		return err
	}
	list, err := s.b.ListRotations(r.Context(), backend.ListRotationsRequest{
		AccountID: q.Get("api_key_account_id"), ActiveOnly: active != nil && *active, Limit: int(limit),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"rotations": list})
	return nil
}

func (s *server) getRotation(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	rot, err := s.b.GetRotation(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rot)
	return nil
}

// rotationResult returns a rotation's result to the holder of its
// Idempotency-Key: the only answer besides the synchronous regenerate that
// may carry the new secret.
func (s *server) rotationResult(w http.ResponseWriter, r *http.Request) error {
	if err := decodeJSON(r, &struct{}{}, true); err != nil {
		return err
	}
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	key := r.Header.Get(backend.IdempotencyKeyHeader)
	if key == "" {
		return badRequest(backend.IdempotencyKeyHeader, "the %s header must carry the key the rotation was asked with", backend.IdempotencyKeyHeader)
	}
	a, err := s.b.RotationResult(r.Context(), backend.RotationResultRequest{ID: r.PathValue("id"), IdempotencyKey: key})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// apps

func (s *server) listApps(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := checkQuery(q, "bound_to_account_id", "running", "deployed", "app_host"); err != nil {
		return err
	}
	req := backend.ListAppsRequest{BoundToAccountID: q.Get("bound_to_account_id"), AppHost: q.Get("app_host")}
	var err error
	if req.Running, err = boolQuery(q, "running"); err != nil {
		return err
	}
	if req.Deployed, err = boolQuery(q, "deployed"); err != nil {
		return err
	}
	list, err := s.b.ListApps(r.Context(), req)
	if err != nil {
		return err
	}
	if list == nil {
		list = []backend.App{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": list})
	return nil
}

func (s *server) createApp(w http.ResponseWriter, r *http.Request) error {
	var req backend.CreateAppRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	a, err := s.b.CreateApp(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/apps/"+url.PathEscape(a.ID))
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *server) getApp(w http.ResponseWriter, r *http.Request) error {
	a, err := s.b.GetApp(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) getAppByName(w http.ResponseWriter, r *http.Request) error {
	a, err := s.b.GetAppByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) updateApp(w http.ResponseWriter, r *http.Request) error {
	var req backend.UpdateAppRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	req.ID = r.PathValue("id")
	a, err := s.b.UpdateApp(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) deleteApp(w http.ResponseWriter, r *http.Request) error {
	if err := s.b.DeleteApp(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) deployApp(w http.ResponseWriter, r *http.Request) error {
	if err := decodeJSON(r, &struct{}{}, true); err != nil {
		return err
	}
	a, err := s.b.DeployApp(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) undeployApp(w http.ResponseWriter, r *http.Request) error {
	if err := decodeJSON(r, &struct{}{}, true); err != nil {
		return err
	}
	a, err := s.b.UndeployApp(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// app secrets

func (s *server) putAppSecret(w http.ResponseWriter, r *http.Request) error {
	var req backend.PutAppSecretRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	req.AppID, req.Name = r.PathValue("id"), r.PathValue("name")
	sec, err := s.b.PutAppSecret(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sec)
	return nil
}

func (s *server) getAppSecret(w http.ResponseWriter, r *http.Request) error {
	sec, err := s.b.GetAppSecret(r.Context(), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sec)
	return nil
}

func (s *server) deleteAppSecret(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	if err := s.b.DeleteAppSecret(r.Context(), backend.DeleteAppSecretRequest{
		AppID: r.PathValue("id"), Name: r.PathValue("name"),
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := checkQuery(q, "after_seq", "limit"); err != nil {
		return err
	}
	after, err := intQuery(q, "after_seq")
	if err != nil {
		return err
	}
	limit, err := intQuery(q, "limit")
	if err != nil {
		return err
	}
	events, err := s.b.ListAuditEvents(r.Context(), backend.AuditQuery{AfterSeq: after, Limit: int(limit)})
	if err != nil {
		return err
	}
	if events == nil {
		events = []backend.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
	return nil
}
