package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// openAPIDoc is the part of the OpenAPI document the status test reads.
type openAPIDoc struct {
	Info struct {
		License struct {
			Name string `json:"name"`
		} `json:"license"`
	} `json:"info"`
	Servers []struct {
		URL string `json:"url"`
	} `json:"servers"`
	Paths map[string]map[string]struct {
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
}

// documentedStatuses returns, for each "METHOD PATH" of the document, the
// response keys it lists ("200", "404", "default", ...).
func documentedStatuses(t *testing.T) (openAPIDoc, map[string][]string) {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(server.OpenAPIDocument, &doc); err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	out := map[string][]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for code := range op.Responses {
				out[strings.ToUpper(method)+" "+path] = append(out[strings.ToUpper(method)+" "+path], code)
			}
		}
	}
	return doc, out
}

// statusProbe is a handler over a fresh store that records, per route,
// every status it answered.
type statusProbe struct {
	svc   *core.Service
	h     http.Handler
	admin backendtest.Admin
	user  *backend.AccountWithSecret // a key account that is not an admin
	host  *backend.AccountWithSecret // an App Host account, once the session made one
	match *http.ServeMux             // the route patterns, to name a request's route
	seen  map[string]map[int][]string
	// addr is the client address of the requests; the throttle counts
	// failures per address and account.
	addr string
}

// probeMaxBody is the body limit of the probe's server: above every body
// the probes send but the one meant to be too large.
const probeMaxBody = 4 << 10

func newStatusProbe(t *testing.T, store string) *statusProbe {
	t.Helper()
	svc := backendtest.Open(t, store, "")
	p := &statusProbe{svc: svc, admin: backendtest.Bootstrap(t, svc), match: http.NewServeMux(), addr: "192.0.2.1", seen: map[string]map[int][]string{}}
	now := time.Unix(1_700_000_000, 0)
	p.h = server.New(server.Config{
		Backend:      svc,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes: probeMaxBody,
		// One failure per address and account, then 429: the probes fail
		// each account once and then once more.
		FailedLogins: server.RateLimit{Burst: 1, Now: func() time.Time { return now }},
	})
	for _, r := range server.Routes() {
		p.match.HandleFunc(r, func(http.ResponseWriter, *http.Request) {})
	}
	u, err := svc.CreateAccount(t.Context(), backend.CreateAccountRequest{Name: "probe-user"})
	if err != nil {
		t.Fatal(err)
	}
	p.user = u
	return p
}

// creds says which credentials a probe sends.
type creds int

const (
	asAdmin creds = iota
	asNobody
	asUser // a key account that is not an admin: 403
	asHost // the App Host account of the session's probes
	asRaw  // the Authorization header given in the probe's header, if any
)

// send makes one request and records its status under the route it
// matched; it returns the status and the body.
func (p *statusProbe) send(t *testing.T, c creds, method, target, body string, header http.Header) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.RemoteAddr = p.addr + ":40000"
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // as a client sends it
	}
	for k, v := range header {
		req.Header[k] = v
	}
	switch c {
	case asAdmin:
		req.SetBasicAuth(p.admin.ID, p.admin.Secret)
	case asUser:
		req.SetBasicAuth(p.user.ID, p.user.Secret)
	case asHost:
		req.SetBasicAuth(p.host.ID, p.host.Secret)
	}
	_, route := p.match.Handler(req)
	if route == "" {
		t.Fatalf("%s %s matches no route", method, target)
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, req)
	if p.seen[route] == nil {
		p.seen[route] = map[int][]string{}
	}
	what := fmt.Sprintf("%s %s", method, target)
	if len(p.seen[route][w.Code]) < 3 {
		p.seen[route][w.Code] = append(p.seen[route][w.Code], what)
	}
	return w.Code, w.Body.String()
}

// sampleBodies is a well-formed body for each route that takes one; a route
// missing here has none.
var sampleBodies = map[string]string{
	"POST /v1/login":                     `{"api_key_id":"00000000-0000-4000-8000-000000000000","secret":"x"}`,
	"POST /v1/accounts":                  `{"name":"probe-new"}`,
	"PUT /v1/accounts/{id}":              `{"name":"probe-renamed"}`,
	"POST /v1/accounts/{id}/regenerate":  `{}`,
	"POST /v1/apps":                      `{"name":"probe-app-new"}`,
	"PUT /v1/apps/{id}":                  `{"name":"probe-app-renamed"}`,
	"POST /v1/apps/{id}/deploy":          `{}`,
	"POST /v1/apps/{id}/undeploy":        `{}`,
	"PUT /v1/apps/{id}/secrets/{name}":   `{"value":"v"}`,
	"POST /v1/app-hosts/{name}/forget":   `{}`,
	"POST /v1/app-hosts/{name}/sessions": `{"instance_id":"probe","version":"v","driver":"virtual"}`,
	"POST /v1/app-hosts/{name}/reports":  `{"session_id":"probe","revision":0,"apps":[]}`,
	"POST /v1/rotations/{id}/result":     `{}`,
}

// concretePath fills a route's wildcards with values no object has.
func concretePath(path string) string {
	path = strings.ReplaceAll(path, "{id}", uuid.NewString())
	return strings.ReplaceAll(path, "{name}", "no-such-name")
}

// TestOpenAPIListsEveryStatus sends each route the requests any client may
// send it (no credentials, wrong ones, a throttled address, a key that is
// not an admin, bad bytes, an unknown query parameter, a malformed or too
// large body, an object that does not exist) and then the requests of a
// real session (create, conflict, invalid input, a locked account, a stale
// secret version, a key in use), and fails for every status a route
// answered that its operation in the OpenAPI document does not list: a
// proxy that validates responses against the document refuses them.
func TestOpenAPIListsEveryStatus(t *testing.T) {
	p := newStatusProbe(t, backendtest.SQLiteStore(t))
	for _, route := range server.Routes() {
		method, path, _ := strings.Cut(route, " ")
		body := sampleBodies[route]
		target := concretePath(path)

		p.send(t, asNobody, method, target, body, nil)
		p.send(t, asAdmin, method, target, body, nil)
		p.send(t, asUser, method, target, body, nil)
		// The same unknown key twice from one address: 401, then 429.
		id := uuid.NewString()
		h := basicHeader(id, "not-the-secret")
		p.send(t, asRaw, method, target, body, h)
		p.send(t, asRaw, method, target, body, h)
		p.send(t, asRaw, method, target, body, basicHeader("\xff", "x"))
		p.send(t, asAdmin, method, target+"?probe=%ff", body, nil)
		p.send(t, asAdmin, method, target+"?no_such_parameter=1", body, nil)
		p.send(t, asAdmin, method, target, `{`, nil)
		p.send(t, asAdmin, method, target, `{"no_such_field":1}`, nil)
		p.send(t, asAdmin, method, target, "\"\xff\"", nil)
		p.send(t, asAdmin, method, target, body, http.Header{"Content-Type": {"text/plain"}})
		p.send(t, asAdmin, method, target, body, http.Header{"Origin": {"https://elsewhere.example"}, "Sec-Fetch-Site": {"cross-site"}})
		p.send(t, asAdmin, method, target, `{"name":"`+strings.Repeat("x", probeMaxBody)+`"}`, nil)
	}
	p.session(t)

	p.check(t)
	doc, _ := documentedStatuses(t)
	if doc.Info.License.Name == "" {
		t.Error("the OpenAPI document has no info.license")
	}
	if len(doc.Servers) == 0 {
		t.Error("the OpenAPI document has no servers")
	}
}

// TestOpenAPIListsStoreOutage: with its PostgreSQL unreachable, every route
// that reads the store answers a status its operation lists (503).
func TestOpenAPIListsStoreOutage(t *testing.T) {
	store := backendtest.PostgresStore(t)
	u, err := url.Parse(store)
	if err != nil {
		t.Fatal(err)
	}
	relay := newTCPRelay(t, u.Host)
	u.Host = relay.ln.Addr().String()
	p := newStatusProbe(t, u.String())
	relay.cut()
	for _, route := range server.Routes() {
		method, path, _ := strings.Cut(route, " ")
		p.send(t, asAdmin, method, concretePath(path), sampleBodies[route], nil)
	}
	p.check(t)
	if codes := p.seen["GET /v1/accounts"]; len(codes[http.StatusServiceUnavailable]) == 0 {
		t.Errorf("GET /v1/accounts with the store down answered %v, want 503", codes)
	}
}

// check fails for every status a route answered that its operation in the
// OpenAPI document does not list. Only 500, an internal error, may fall to
// "default".
func (p *statusProbe) check(t *testing.T) {
	t.Helper()
	_, documented := documentedStatuses(t)
	for _, route := range server.Routes() {
		statuses := p.seen[route]
		if len(statuses) == 0 {
			t.Errorf("%s: no probe reached it", route)
			continue
		}
		listed := documented[route]
		for _, code := range slices.Sorted(maps.Keys(statuses)) {
			if slices.Contains(listed, strconv.Itoa(code)) {
				continue
			}
			if code == http.StatusInternalServerError && slices.Contains(listed, "default") {
				continue
			}
			t.Errorf("%s answered %d, which the OpenAPI document does not list for it (it lists %v); seen for %v",
				route, code, slices.Sorted(slices.Values(listed)), statuses[code])
		}
	}
}

// session runs the requests of a real admin session, which provoke the
// answers that only real objects give.
func (p *statusProbe) session(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	mustStatus := func(want, got int, body string) {
		t.Helper()
		if got != want {
			t.Fatalf("status %d, want %d: %s", got, want, body)
		}
	}
	decodeID := func(body string) string {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.ID == "" {
			t.Fatalf("no id in %s", body)
		}
		return v.ID
	}

	// Public routes.
	p.send(t, asNobody, "GET", "/healthz", "", nil)
	p.send(t, asNobody, "GET", "/v1/openapi.json", "", nil)
	p.send(t, asNobody, "GET", "/v1/version", "", nil)
	p.send(t, asAdmin, "GET", "/v1/version", "", nil)
	p.send(t, asNobody, "POST", "/v1/login", `{}`, nil)
	p.send(t, asNobody, "POST", "/v1/login", fmt.Sprintf(`{"api_key_id":%q,"secret":%q}`, p.user.ID, p.user.Secret), nil)
	p.send(t, asNobody, "POST", "/v1/login", fmt.Sprintf(`{"api_key_id":%q,"secret":"wrong"}`, p.user.ID), nil)

	// Key accounts.
	code, body := p.send(t, asAdmin, "POST", "/v1/accounts", `{"name":"probe-key"}`, nil)
	mustStatus(http.StatusCreated, code, body)
	key := decodeID(body)
	p.send(t, asAdmin, "POST", "/v1/accounts", `{"name":"probe-key"}`, nil)
	p.send(t, asAdmin, "POST", "/v1/accounts", `{"name":""}`, nil)
	p.send(t, asAdmin, "POST", "/v1/accounts", `{"name":"a/b"}`, nil)
	p.send(t, asAdmin, "GET", "/v1/accounts?locked=true", "", nil)
	p.send(t, asAdmin, "GET", "/v1/accounts?locked=maybe", "", nil)
	p.send(t, asAdmin, "GET", "/v1/accounts/by-name/probe-key", "", nil)
	p.send(t, asAdmin, "GET", "/v1/accounts/"+key, "", nil)
	p.send(t, asAdmin, "PUT", "/v1/accounts/"+key, `{"name":"probe-user"}`, nil)
	p.send(t, asAdmin, "PUT", "/v1/accounts/"+key, `{"name":""}`, nil)
	p.send(t, asAdmin, "PUT", "/v1/accounts/"+key, `{"name":"probe-key","description":"d"}`, nil)
	p.send(t, asAdmin, "POST", "/v1/accounts/"+key+"/regenerate", `{"expected_secret_version":7}`, nil)
	p.send(t, asAdmin, "POST", "/v1/accounts/"+key+"/regenerate", ``, http.Header{"Idempotency-Key": {strings.Repeat("k", 300)}})
	p.send(t, asAdmin, "POST", "/v1/accounts/"+key+"/regenerate", `{"expected_secret_version":1}`, http.Header{"Idempotency-Key": {"probe"}})
	p.send(t, asAdmin, "POST", "/v1/accounts/"+key+"/regenerate", `{"expected_secret_version":1}`, http.Header{"Idempotency-Key": {"probe"}})
	p.send(t, asAdmin, "POST", "/v1/accounts/"+key+"/regenerate", `{"expected_secret_version":1,"expose_secret":false}`, http.Header{"Idempotency-Key": {"probe"}})
	p.send(t, asAdmin, "DELETE", "/v1/accounts/"+p.admin.ID, "", nil)

	// Apps and their secrets.
	code, body = p.send(t, asAdmin, "POST", "/v1/apps", `{"name":"probe-app","deployed":true}`, nil)
	mustStatus(http.StatusCreated, code, body)
	app := decodeID(body)
	p.send(t, asAdmin, "POST", "/v1/apps", `{"name":"probe-app"}`, nil)
	p.send(t, asAdmin, "POST", "/v1/apps", `{"name":""}`, nil)
	p.send(t, asAdmin, "POST", "/v1/apps", `{"name":"probe-app-2","config":{"k":"a\nb"}}`, nil)
	p.send(t, asAdmin, "GET", "/v1/apps?running=true&deployed=false&app_host=default&bound_to_account_id="+key, "", nil)
	p.send(t, asAdmin, "GET", "/v1/apps?running=maybe", "", nil)
	p.send(t, asAdmin, "GET", "/v1/apps/by-name/probe-app", "", nil)
	p.send(t, asAdmin, "GET", "/v1/apps/"+app, "", nil)
	code, body = p.send(t, asAdmin, "POST", "/v1/apps", `{"name":"probe-app-3"}`, nil)
	mustStatus(http.StatusCreated, code, body)
	p.send(t, asAdmin, "PUT", "/v1/apps/"+app, `{"name":"probe-app-3","deployed":true}`, nil)
	p.send(t, asAdmin, "PUT", "/v1/apps/"+app, `{"name":"","deployed":true}`, nil)
	p.send(t, asAdmin, "PUT", "/v1/apps/"+app, `{"name":"probe-app","version":"2","deployed":true}`, nil)
	secret := "/v1/apps/" + app + "/secrets/"
	p.send(t, asAdmin, "PUT", secret+"api-key", fmt.Sprintf(`{"api_key_account_id":%q}`, key), nil)
	p.send(t, asAdmin, "PUT", secret+"stale", fmt.Sprintf(`{"api_key_account_id":%q,"value":"not-the-secret"}`, key), nil)
	p.send(t, asAdmin, "PUT", secret+"bound-to-nothing", fmt.Sprintf(`{"api_key_account_id":%q}`, uuid.NewString()), nil)
	p.send(t, asAdmin, "PUT", secret+"opaque", `{}`, nil)
	p.send(t, asAdmin, "PUT", secret+"bad%20name", `{"value":"v"}`, nil)
	p.send(t, asAdmin, "GET", secret+"api-key", "", nil)
	p.send(t, asAdmin, "DELETE", "/v1/accounts/"+key, "", nil)
	p.send(t, asAdmin, "POST", "/v1/accounts/"+key+"/regenerate", `{}`, nil)
	p.send(t, asAdmin, "POST", "/v1/apps/"+app+"/undeploy", ``, nil)
	p.send(t, asAdmin, "POST", "/v1/apps/"+app+"/deploy", ``, nil)
	p.send(t, asAdmin, "DELETE", secret+"api-key", "", nil)
	p.send(t, asAdmin, "DELETE", secret+"api-key", "", nil)
	p.send(t, asAdmin, "DELETE", "/v1/apps/"+app, "", nil)
	p.send(t, asAdmin, "DELETE", "/v1/accounts/"+key, "", nil)
	p.send(t, asAdmin, "GET", "/v1/audit?after=0&limit=10", "", nil)
	p.send(t, asAdmin, "GET", "/v1/audit?after=-1", "", nil)

	// A rotation asked for an asynchronous answer, and its result.
	code, body = p.send(t, asAdmin, "POST", "/v1/accounts", `{"name":"probe-async"}`, nil)
	mustStatus(http.StatusCreated, code, body)
	async := decodeID(body)
	code, body = p.send(t, asAdmin, "POST", "/v1/accounts/"+async+"/regenerate", `{"expected_secret_version":1}`,
		http.Header{"Prefer": {"respond-async"}, "Idempotency-Key": {"probe-async"}})
	mustStatus(http.StatusAccepted, code, body)
	rotation := "/v1/rotations/" + decodeID(body)
	p.send(t, asAdmin, "POST", rotation+"/result", "", nil)
	p.send(t, asAdmin, "POST", rotation+"/result", "", http.Header{"Idempotency-Key": {"another-key"}})
	deadline := time.Now().Add(time.Minute)
	for {
		code, body = p.send(t, asAdmin, "GET", rotation, "", nil)
		mustStatus(http.StatusOK, code, body)
		if strings.Contains(body, `"outcome":`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.send(t, asAdmin, "POST", rotation+"/result", "", http.Header{"Idempotency-Key": {"probe-async"}})
	p.send(t, asAdmin, "GET", "/v1/rotations?active=true&limit=5&api_key_account_id="+async, "", nil)
	p.send(t, asAdmin, "GET", "/v1/rotations?active=maybe", "", nil)

	// An App Host's protocol, from loopback (plain HTTP is refused from
	// anywhere else), as the App Host account of its name and as others.
	code, body = p.send(t, asAdmin, "POST", "/v1/accounts", `{"name":"probe-host","app_host":"probe-east"}`, nil)
	mustStatus(http.StatusCreated, code, body)
	var host backend.AccountWithSecret
	if err := json.Unmarshal([]byte(body), &host); err != nil || host.Secret == "" {
		t.Fatalf("the App Host account: %s", body)
	}
	p.host = &host
	p.addr = "127.0.0.1"
	hostPath := "/v1/app-hosts/probe-east"
	code, body = p.send(t, asHost, "POST", hostPath+"/sessions", `{"instance_id":"probe-1","version":"v","driver":"virtual"}`, nil)
	mustStatus(http.StatusCreated, code, body)
	var session struct {
		ID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(body), &session); err != nil || session.ID == "" {
		t.Fatalf("no session_id in %s", body)
	}
	p.send(t, asHost, "POST", hostPath+"/sessions", `{"instance_id":"probe-2","version":"v","driver":"virtual"}`, nil)
	p.send(t, asHost, "POST", hostPath+"/sessions", `{"instance_id":"","driver":"no-such-driver"}`, nil)
	p.send(t, asHost, "GET", hostPath+"/desired?after=0&wait_ms=0&session="+session.ID, "", nil)
	p.send(t, asHost, "GET", hostPath+"/desired?wait_ms=0&session=no-such-session", "", nil)
	p.send(t, asHost, "GET", hostPath+"/desired?wait_ms=-1", "", nil)
	p.send(t, asHost, "POST", hostPath+"/reports", fmt.Sprintf(`{"session_id":%q,"revision":0,"apps":[]}`, session.ID), nil)
	p.send(t, asHost, "POST", hostPath+"/reports", `{"session_id":"no-such-session","revision":0,"apps":[]}`, nil)
	p.send(t, asHost, "POST", hostPath+"/reports", fmt.Sprintf(`{"session_id":%q,"apps":[{"name":"no-such-app","phase":"running"}]}`, session.ID), nil)
	p.send(t, asHost, "GET", "/v1/app-hosts/another-host/desired?wait_ms=0", "", nil)
	p.send(t, asHost, "GET", "/v1/accounts", "", nil)
	p.send(t, asAdmin, "GET", hostPath+"/desired?wait_ms=0", "", nil)
	p.send(t, asAdmin, "GET", "/v1/app-hosts", "", nil)
	p.send(t, asAdmin, "POST", hostPath+"/forget", "", nil)
	p.send(t, asAdmin, "POST", "/v1/app-hosts/no-such-host/forget", "", nil)
	p.addr = "192.0.2.1"

	// A locked account, from an address that has no failure on record: its
	// right secret gets 423 at /v1/login, and 401 as Basic credentials.
	p.addr = "192.0.2.2"
	for range backend.DefaultLockoutThreshold {
		_ = p.svc.Login(ctx, backend.LoginRequest{AccountID: p.user.ID, Secret: "wrong"})
	}
	if a, err := p.svc.GetAccount(ctx, p.user.ID); err != nil || !a.Locked {
		t.Fatalf("the probe's user account did not lock: %+v %v", a, err)
	}
	p.send(t, asNobody, "POST", "/v1/login", fmt.Sprintf(`{"api_key_id":%q,"secret":%q}`, p.user.ID, p.user.Secret), nil)
	for _, route := range server.Routes() {
		method, path, _ := strings.Cut(route, " ")
		p.send(t, asUser, method, concretePath(path), sampleBodies[route], nil)
	}
}
