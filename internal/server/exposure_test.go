package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// publicOperations are the only operations anyone may call without an admin
// account's credentials.
var publicOperations = []string{"GET /healthz", "GET /v1/openapi.json", "GET /v1/version", "POST /v1/login"}

// operation is one method and path of the OpenAPI document.
type operation struct {
	method, path string
	public       bool // declared with an empty security requirement
}

// documentedOperations reads the operations from the served OpenAPI
// document, so that a new route is covered by the tests below as soon as it
// is documented (TestOpenAPIMatchesRoutes holds routes and document equal).
func documentedOperations(t *testing.T) []operation {
	t.Helper()
	var doc struct {
		Security []map[string][]string `json:"security"`
		Paths    map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPIDocument, &doc); err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	if len(doc.Security) == 0 {
		t.Error("the OpenAPI document has no global security requirement")
	}
	var ops []operation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			switch method {
			case "get", "put", "post", "delete", "patch":
			default:
				continue
			}
			public := op.Security != nil && len(*op.Security) == 0
			ops = append(ops, operation{strings.ToUpper(method), path, public})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	if len(ops) < 10 {
		t.Fatalf("only %d operations in the OpenAPI document", len(ops))
	}
	return ops
}

// concrete fills a path's parameters with well-formed values.
func concrete(path string) string {
	return strings.NewReplacer("{id}", uuid.NewString(), "{name}", "some-name").Replace(path)
}

// checkSecurityHeaders checks the headers every response carries. Only the
// OpenAPI document, public and the same for everyone, may be cached.
func checkSecurityHeaders(t *testing.T, what, path string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	}
	if path == "/v1/openapi.json" {
		delete(want, "Cache-Control")
	}
	for name, want := range want {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %s = %q, want %q", what, name, got, want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("%s: Content-Security-Policy = %q, want default-src 'none'", what, csp)
	}
	if h.Get(server.RequestIDHeader) == "" {
		t.Errorf("%s: no %s", what, server.RequestIDHeader)
	}
}

// Every operation but the public ones answers 401 to a caller without valid
// credentials, and runs nothing: the store is unchanged.
func TestEveryOperationNeedsCredentials(t *testing.T) {
	e := newEnv(t, 0)
	ctx := t.Context()
	before, err := e.svc.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}

	var declaredPublic []string
	checked := 0
	for _, op := range documentedOperations(t) {
		name := op.method + " " + op.path
		if op.public {
			declaredPublic = append(declaredPublic, name)
			continue
		}
		if slices.Contains(publicOperations, name) {
			t.Errorf("%s is public by design but the OpenAPI document asks for credentials", name)
		}
		methods := []string{op.method}
		if op.method == http.MethodGet {
			methods = append(methods, http.MethodHead) // the mux serves HEAD with GET
		}
		for _, method := range methods {
			for _, cred := range []struct {
				name   string
				header http.Header
			}{
				{"none", nil},
				{"a bearer token", http.Header{"Authorization": {"Bearer " + e.admin.Secret}}},
				{"a malformed Basic header", http.Header{"Authorization": {"Basic !!!"}}},
				{"an empty Basic user", basicHeader("", e.admin.Secret)},
				{"an unknown key ID", basicHeader(uuid.NewString(), e.admin.Secret)},
			} {
				body := ""
				if method == http.MethodPost || method == http.MethodPut {
					body = `{}`
				}
				what := method + " " + op.path + " with " + cred.name
				resp, raw := e.do(t, method, concrete(op.path), nil, body, cred.header)
				checked++
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401: %.200s", what, resp.StatusCode, raw)
					continue
				}
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("%s: WWW-Authenticate = %q", what, resp.Header.Get("WWW-Authenticate"))
				}
				if method != http.MethodHead {
					wantError(t, resp, raw, http.StatusUnauthorized, backend.CodeUnauthorized)
				}
				checkSecurityHeaders(t, what, op.path, resp.Header)
			}
		}
	}
	sort.Strings(declaredPublic)
	want := slices.Sorted(slices.Values(publicOperations))
	if !slices.Equal(declaredPublic, want) {
		t.Errorf("the OpenAPI document declares %v public, want exactly %v", declaredPublic, want)
	}

	// The public ones answer without credentials.
	for _, path := range []string{"/healthz", "/v1/openapi.json"} {
		if resp, raw := e.do(t, "GET", path, nil, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without credentials: %d %s", path, resp.StatusCode, raw)
		}
	}

	// Nothing ran: no event beyond those of the failed logins of the
	// unknown key IDs, which have no account to count against.
	after, err := e.svc.ListAuditEvents(ctx, backend.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range after[len(before):] {
		if ev.Action != backend.ActionLoginFailure {
			t.Errorf("an unauthenticated request left the event %+v", ev)
		}
	}
	if a, err := e.svc.GetAccount(ctx, e.admin.ID); err != nil || a.FailedLoginAttempts != 0 {
		t.Errorf("the admin account: %+v %v, want no failed attempt", a, err)
	}
	t.Logf("%d unauthenticated requests answered 401", checked)
}

func basicHeader(id, secret string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(id, secret)
	return http.Header{"Authorization": {r.Header.Get("Authorization")}}
}

// Every response carries the security headers and a request ID, and the
// request log has one line per request under that ID: successes, client
// errors, unknown paths and methods, public and authenticated operations.
func TestSecurityHeadersAndRequestIDsInLog(t *testing.T) {
	e := newEnv(t, 0)
	admin := &e.admin
	type sent struct {
		method, path string
		status       int
		id           string
	}
	var all []sent
	call := func(method, path string, who *backendtest.Admin, body string) {
		t.Helper()
		resp, _ := e.do(t, method, path, who, body, nil)
		what := method + " " + path
		checkSecurityHeaders(t, what, path, resp.Header)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && method != http.MethodHead &&
			!strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
		all = append(all, sent{method, path, resp.StatusCode, resp.Header.Get(server.RequestIDHeader)})
	}
	call("GET", "/healthz", nil, "")
	call("GET", "/v1/openapi.json", nil, "")
	call("POST", "/v1/login", nil, `{"account_id":"`+uuid.NewString()+`","secret":"x"}`)
	call("POST", "/v1/accounts", admin, `{"name":"k"}`)
	call("GET", "/v1/accounts", admin, "")
	call("GET", "/v1/accounts", nil, "")
	call("GET", "/v1/accounts/"+uuid.NewString(), admin, "")
	call("POST", "/v1/accounts", admin, `{"name":`)
	call("PATCH", "/v1/accounts", admin, "")
	call("GET", "/v1/nowhere", nil, "")
	call("GET", "/", nil, "")
	call("GET", "/v1/audit", admin, "")

	type logLine struct {
		Msg       string `json:"msg"`
		Method    string `json:"method"`
		Path      string `json:"path"`
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	logged := map[string]logLine{}
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("a log line is not JSON: %s", sc.Text())
		}
		if l.Msg == "request" {
			if _, dup := logged[l.RequestID]; dup {
				t.Errorf("request ID %q logged twice", l.RequestID)
			}
			logged[l.RequestID] = l
		}
	}
	for _, s := range all {
		l, ok := logged[s.id]
		if !ok {
			t.Errorf("%s %s: request ID %q is not in the log", s.method, s.path, s.id)
			continue
		}
		if l.Method != s.method || l.Path != s.path || l.Status != s.status {
			t.Errorf("%s %s (%d): logged as %+v", s.method, s.path, s.status, l)
		}
	}
}

// TestExposeSecretFalseOverHTTP: for an account with expose_secret = false,
// no response body carries its secret: not create, regenerate, the replay
// of a regenerate, nor any read. (Key secrets start with ahk_; the admin
// secret of the test does not.) The bound app still gets it and runs.
func TestExposeSecretFalseOverHTTP(t *testing.T) {
	e := newEnv(t, 0)
	admin := &e.admin
	var bodies []string
	call := func(method, path, body string, header http.Header, want int) []byte {
		t.Helper()
		resp, raw := e.do(t, method, path, admin, body, header)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		bodies = append(bodies, method+" "+path+": "+string(raw))
		return raw
	}
	var k backend.AccountWithSecret
	_ = json.Unmarshal(call("POST", "/v1/accounts", `{"name":"hidden","expose_secret":false}`, nil, 201), &k)
	var app backend.App
	_ = json.Unmarshal(call("POST", "/v1/apps", `{"name":"web","deployed":true}`, nil, 201), &app)
	call("PUT", "/v1/apps/"+app.ID+"/secrets/k", `{"api_key_account_id":"`+k.ID+`"}`, nil, 200)
	key := http.Header{"Idempotency-Key": {uuid.NewString()}}
	call("POST", "/v1/accounts/"+k.ID+"/regenerate", `{"expected_secret_version":1}`, key, 200)
	call("POST", "/v1/accounts/"+k.ID+"/regenerate", `{"expected_secret_version":1}`, key, 200) // the replay
	call("POST", "/v1/accounts/"+k.ID+"/regenerate", ``, nil, 200)
	for _, p := range []string{"/v1/accounts/" + k.ID, "/v1/accounts/by-name/hidden", "/v1/accounts", "/v1/apps/" + app.ID,
		"/v1/apps", "/v1/apps/" + app.ID + "/secrets/k", "/v1/audit"} {
		call("GET", p, "", nil, 200)
	}
	for _, b := range bodies {
		if strings.Contains(b, "ahk_") || strings.Contains(b, `"secret":`) {
			t.Errorf("a response carries the secret: %s", b)
		}
	}
	var got backend.App
	_ = json.Unmarshal(call("GET", "/v1/apps/"+app.ID, "", nil, 200), &got)
	if got.Status != backend.StatusRunning {
		t.Errorf("the bound app after the rotations: %s", got.Status)
	}
	// The same calls for an account that shows its secret do carry it: the
	// check above can fail.
	shown := string(call("POST", "/v1/accounts", `{"name":"shown"}`, nil, 201))
	if !strings.Contains(shown, `"secret":"ahk_`) {
		t.Errorf("create with expose_secret unset shows no secret: %s", shown)
	}
}
