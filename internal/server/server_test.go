package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// env is a server over a fresh SQLite store, with its log captured.
type env struct {
	svc   *core.Service
	url   string
	admin backendtest.Admin
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, maxBody int64) *env {
	t.Helper()
	svc := backendtest.Open(t, backendtest.SQLiteStore(t), "")
	e := &env{svc: svc, admin: backendtest.Bootstrap(t, svc), logs: &syncBuffer{}}
	h := server.New(server.Config{
		Backend:      svc,
		Logger:       slog.New(slog.NewJSONHandler(e.logs, nil)),
		MaxBodyBytes: maxBody,
		// These tests fail logins on purpose from one address; the limit has
		// its own tests (ratelimit_test.go).
		FailedLogins: server.RateLimit{Burst: 1000},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *env) do(t *testing.T, method, path string, admin *backendtest.Admin, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp := backendtest.Do(t, method, e.url+path, admin, r, header)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

type errBody struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Field   string   `json:"field"`
		Apps    []string `json:"apps"`
	} `json:"error"`
}

// wantError checks status and the JSON error shape, returning the error.
func wantError(t *testing.T, resp *http.Response, raw []byte, status int, code string) errBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var eb errBody
	if err := json.Unmarshal(raw, &eb); err != nil {
		t.Fatalf("error body is not JSON: %s", raw)
	}
	if eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("error %+v, want code %s", eb.Error, code)
	}
	return eb
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPIDocument, &doc); err != nil {
		t.Fatalf("the OpenAPI document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	registered := server.Routes()
	sort.Strings(documented)
	sort.Strings(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("the OpenAPI document has %s, which is not a route", d)
		}
	}
}

func TestPublicEndpoints(t *testing.T) {
	e := newEnv(t, 0)
	resp, raw := e.do(t, "GET", "/healthz", nil, "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"ok"`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, raw)
	}
	resp, raw = e.do(t, "GET", "/v1/openapi.json", nil, "", nil)
	if resp.StatusCode != 200 || !bytes.Equal(raw, server.OpenAPIDocument) {
		t.Errorf("openapi.json: %d", resp.StatusCode)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, 0)
	c := context.Background()

	resp, raw := e.do(t, "GET", "/v1/accounts", nil, "", nil)
	wantError(t, resp, raw, 401, backend.CodeUnauthorized)
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
	}

	// A wrong secret and an unknown ID get the same answer.
	wrong := backendtest.Admin{ID: e.admin.ID, Secret: "wrong"}
	resp, raw = e.do(t, "GET", "/v1/accounts", &wrong, "", nil)
	m1 := wantError(t, resp, raw, 401, backend.CodeUnauthorized).Error.Message
	unknown := backendtest.Admin{ID: uuid.NewString(), Secret: "wrong"}
	resp, raw = e.do(t, "GET", "/v1/accounts", &unknown, "", nil)
	m2 := wantError(t, resp, raw, 401, backend.CodeUnauthorized).Error.Message
	if m1 != m2 {
		t.Errorf("the messages tell a wrong secret from an unknown ID:\n%s\n%s", m1, m2)
	}
	// A network failure never counts toward the admin's lockout.
	a, err := e.svc.GetAccount(c, e.admin.ID)
	if err != nil || a.FailedLoginAttempts != 0 {
		t.Fatalf("admin failed_login_attempts = %v (%v), want 0", a, err)
	}

	// A non-admin account with the right secret is forbidden.
	plain, err := e.svc.CreateAccount(c, backend.CreateAccountRequest{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	resp, raw = e.do(t, "GET", "/v1/accounts", &backendtest.Admin{ID: plain.ID, Secret: plain.Secret}, "", nil)
	wantError(t, resp, raw, 403, backend.CodeForbidden)

	// The audit actor of an authenticated call is the admin's name.
	resp, raw = e.do(t, "POST", "/v1/accounts", &e.admin, `{"name":"by-admin"}`, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, raw)
	}
	evs, _ := e.svc.ListAuditEvents(c, backend.AuditQuery{})
	last := evs[len(evs)-1]
	if last.Action != backend.ActionAccountCreate || last.Actor != backendtest.AdminName {
		t.Errorf("last event %+v, want a create by %s", last, backendtest.AdminName)
	}

	// Wrong secrets over the network never lock the admin; counted logins
	// (the login command) do, and then even the right secret fails.
	for range backend.DefaultLockoutThreshold {
		resp, raw = e.do(t, "GET", "/v1/accounts", &wrong, "", nil)
		wantError(t, resp, raw, 401, backend.CodeUnauthorized)
	}
	if a, _ := e.svc.GetAccount(c, e.admin.ID); a.Locked || a.FailedLoginAttempts != 0 {
		t.Fatalf("network failures counted: locked %v, failed_login_attempts %d", a.Locked, a.FailedLoginAttempts)
	}
	for range backend.DefaultLockoutThreshold {
		_ = e.svc.Login(c, backend.LoginRequest{AccountID: e.admin.ID, Secret: "wrong"})
	}
	if a, _ := e.svc.GetAccount(c, e.admin.ID); !a.Locked {
		t.Fatal("the admin account is not locked")
	}
	resp, raw = e.do(t, "GET", "/v1/accounts", &e.admin, "", nil)
	wantError(t, resp, raw, 401, backend.CodeUnauthorized)

	if logs := e.logs.String(); strings.Contains(logs, e.admin.Secret) || strings.Contains(logs, plain.Secret) ||
		strings.Contains(strings.ToLower(logs), "authorization") {
		t.Errorf("the log holds a secret or an Authorization header:\n%s", logs)
	}
}

func TestErrorsAndLimits(t *testing.T) {
	e := newEnv(t, 1024)
	admin := &e.admin

	resp, raw := e.do(t, "GET", "/v1/accounts/"+uuid.NewString(), admin, "", nil)
	wantError(t, resp, raw, 404, backend.CodeNotFound)
	resp, raw = e.do(t, "GET", "/v1/nowhere", admin, "", nil)
	wantError(t, resp, raw, 404, backend.CodeNotFound)

	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":"k"}`, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, raw)
	}
	var k backend.AccountWithSecret
	_ = json.Unmarshal(raw, &k)
	if k.Secret == "" || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("create: secret %v, headers %v", k.Secret != "", resp.Header)
	}
	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":"k"}`, nil)
	wantError(t, resp, raw, 409, backend.CodeConflict)
	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":""}`, nil)
	if eb := wantError(t, resp, raw, 422, backend.CodeInvalid); eb.Error.Field != "name" {
		t.Errorf("field %q, want name", eb.Error.Field)
	}

	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":`, nil)
	wantError(t, resp, raw, 400, backend.CodeInvalid)
	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":"x","secret":"mine"}`, nil)
	if eb := wantError(t, resp, raw, 400, backend.CodeInvalid); eb.Error.Field != "secret" {
		t.Errorf("unknown field: field %q", eb.Error.Field)
	}
	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":"x"} {}`, nil)
	wantError(t, resp, raw, 400, backend.CodeInvalid)
	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":42}`, nil)
	wantError(t, resp, raw, 400, backend.CodeInvalid)
	resp, raw = e.do(t, "POST", "/v1/accounts", admin, `{"name":"`+strings.Repeat("x", 2048)+`"}`, nil)
	wantError(t, resp, raw, 413, backend.CodeInvalid)
	resp, raw = e.do(t, "GET", "/v1/accounts?locked=maybe", admin, "", nil)
	wantError(t, resp, raw, 400, backend.CodeInvalid)
	resp, raw = e.do(t, "GET", "/v1/accounts?colour=red", admin, "", nil)
	wantError(t, resp, raw, 400, backend.CodeInvalid)

	resp, raw = e.do(t, "PATCH", "/v1/accounts", admin, "", nil)
	wantError(t, resp, raw, 405, backend.CodeInvalid)
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}

	// Login: 204, 401 login_failed, 423 locked; no admin auth needed. A
	// network login never locks: the account is locked by counted logins
	// (the App Host's apps, the login command).
	login := func(secret string) (*http.Response, []byte) {
		b, _ := json.Marshal(backend.LoginRequest{AccountID: k.ID, Secret: secret})
		return e.do(t, "POST", "/v1/login", nil, string(b), nil)
	}
	if resp, raw = login(k.Secret); resp.StatusCode != 204 {
		t.Fatalf("login: %d %s", resp.StatusCode, raw)
	}
	resp, raw = login("wrong")
	wantError(t, resp, raw, 401, backend.CodeLoginFailed)
	for range backend.DefaultLockoutThreshold {
		_ = e.svc.Login(context.Background(), backend.LoginRequest{AccountID: k.ID, Secret: "wrong"})
	}
	resp, raw = login(k.Secret)
	wantError(t, resp, raw, 423, backend.CodeLocked)

	// Request IDs: a sane incoming one is echoed, else one is made.
	resp, _ = e.do(t, "GET", "/healthz", nil, "", http.Header{"X-Request-Id": {"trace-123"}})
	if resp.Header.Get("X-Request-Id") != "trace-123" {
		t.Errorf("X-Request-Id = %q", resp.Header.Get("X-Request-Id"))
	}
	resp, _ = e.do(t, "GET", "/healthz", nil, "", http.Header{"X-Request-Id": {"bad id with spaces"}})
	if id := resp.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("X-Request-Id = %q", id)
	}
	if !strings.Contains(e.logs.String(), `"request_id":"trace-123"`) {
		t.Error("the request log lacks the request ID")
	}
	if strings.Contains(e.logs.String(), k.Secret) {
		t.Error("the log holds a secret")
	}
}

func TestAppsOverHTTP(t *testing.T) {
	e := newEnv(t, 0)
	admin := &e.admin
	_, raw := e.do(t, "POST", "/v1/accounts", admin, `{"name":"k"}`, nil)
	var k backend.AccountWithSecret
	_ = json.Unmarshal(raw, &k)
	resp, raw := e.do(t, "POST", "/v1/apps", admin, `{"name":"forwarder","app_host":"east","deployed":true}`, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create app: %d %s", resp.StatusCode, raw)
	}
	var app backend.App
	_ = json.Unmarshal(raw, &app)

	body, _ := json.Marshal(map[string]any{"api_key_account_id": k.ID, "value": k.Secret})
	resp, raw = e.do(t, "PUT", "/v1/apps/"+app.ID+"/secrets/token", admin, string(body), nil)
	if resp.StatusCode != 200 || strings.Contains(string(raw), k.Secret) {
		t.Fatalf("put secret: %d %s", resp.StatusCode, raw)
	}
	resp, raw = e.do(t, "GET", "/v1/apps/"+app.ID+"/secrets/token", admin, "", nil)
	if resp.StatusCode != 200 || strings.Contains(string(raw), k.Secret) || !strings.Contains(string(raw), `"has_value":true`) {
		t.Fatalf("get secret: %d %s", resp.StatusCode, raw)
	}
	for _, p := range []string{"/v1/apps/" + app.ID, "/v1/apps/by-name/forwarder", "/v1/apps?bound_to_account_id=" + k.ID + "&running=true&deployed=true&app_host=east", "/v1/audit", "/v1/accounts"} {
		resp, raw = e.do(t, "GET", p, admin, "", nil)
		if resp.StatusCode != 200 || strings.Contains(string(raw), k.Secret) || !strings.Contains(string(raw), "forwarder") {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, raw)
		}
	}

	// A key with bound secrets is not deleted: 409 in_use naming the app.
	resp, raw = e.do(t, "DELETE", "/v1/accounts/"+k.ID, admin, "", nil)
	if eb := wantError(t, resp, raw, 409, backend.CodeInUse); !slices.Equal(eb.Error.Apps, []string{"forwarder"}) {
		t.Errorf("apps = %v", eb.Error.Apps)
	}
	// A stale expected secret_version: 409, nothing changed.
	resp, raw = e.do(t, "POST", "/v1/accounts/"+k.ID+"/regenerate", admin, `{"expected_secret_version":9}`, nil)
	wantError(t, resp, raw, 409, backend.CodeVersionMismatch)

	// The one-operation rotation over HTTP, replayed with the same key.
	key := http.Header{"Idempotency-Key": {uuid.NewString()}}
	_, raw1 := e.do(t, "POST", "/v1/accounts/"+k.ID+"/regenerate", admin, `{"expected_secret_version":1}`, key)
	resp, raw2 := e.do(t, "POST", "/v1/accounts/"+k.ID+"/regenerate", admin, `{"expected_secret_version":1}`, key)
	var r1, r2 backend.AccountWithSecret
	_ = json.Unmarshal(raw1, &r1)
	_ = json.Unmarshal(raw2, &r2)
	if resp.StatusCode != 200 || r1.Secret == "" || r1.Secret != r2.Secret || r2.SecretVersion != 2 {
		t.Fatalf("idempotent regenerate: %d, versions %d %d", resp.StatusCode, r1.SecretVersion, r2.SecretVersion)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("a response with a secret may be cached")
	}
	body, _ = json.Marshal(map[string]any{"api_key_account_id": k.ID, "value": k.Secret})
	resp, raw = e.do(t, "PUT", "/v1/apps/"+app.ID+"/secrets/token", admin, string(body), nil)
	wantError(t, resp, raw, 422, backend.CodeStaleValue)
	if strings.Contains(string(raw), k.Secret) {
		t.Error("the refusal of a stale value echoes it")
	}
	for _, action := range []string{"undeploy", "deploy"} {
		if resp, raw = e.do(t, "POST", "/v1/apps/"+app.ID+"/"+action, admin, "", nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", action, resp.StatusCode, raw)
		}
	}
	evs, _ := e.svc.ListAuditEvents(context.Background(), backend.AuditQuery{})
	for _, ev := range evs {
		if ev.TargetID == k.ID && ev.Action == backend.ActionLoginFailure {
			t.Errorf("the safe order over HTTP caused a failed login: %+v", ev)
		}
	}
	if resp, _ = e.do(t, "DELETE", "/v1/apps/"+app.ID, admin, "", nil); resp.StatusCode != 204 {
		t.Errorf("delete app: %d", resp.StatusCode)
	}
	if strings.Contains(e.logs.String(), k.Secret) || strings.Contains(e.logs.String(), r1.Secret) {
		t.Error("the log holds a secret")
	}
}
