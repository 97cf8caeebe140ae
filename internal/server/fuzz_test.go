package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/server"
)

// fuzzRoutes are the operations whose JSON bodies FuzzRequestBodies sends;
// {id}, {app} and {name} are filled in by the target.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/accounts"},
	{"PUT", "/v1/accounts/{id}"},
	{"POST", "/v1/accounts/{id}/regenerate"},
	{"POST", "/v1/apps"},
	{"PUT", "/v1/apps/{app}"},
	{"PUT", "/v1/apps/{app}/secrets/{name}"},
	{"POST", "/v1/login"},
	{"POST", "/v1/apps/{app}/deploy"},
}

// FuzzRequestBodies sends arbitrary bodies (and secret names) to every route
// that decodes JSON, through the whole handler over a real SQLite store. The
// server must never panic or answer 5xx to bad input: every refusal is a
// 4xx JSON error, and no answer echoes a secret value it was given.
func FuzzRequestBodies(f *testing.F) {
	seeds := []struct {
		route uint8
		name  string
		body  string
	}{
		{0, "", `{"name":"k1","description":"d"}`},
		{0, "", `{"name":"` + strings.Repeat("n", 200) + `"}`},
		{0, "", `{"name":"../etc"}`},
		{1, "", `{"name":"renamed","description":null}`},
		{2, "", `{"expected_secret_version":1,"expose_secret":false}`},
		{2, "", ``},
		{3, "", `{"name":"a1","app_host":"east","version":"1","config":{"k":"v"},"deployed":true}`},
		{3, "", `{"name":"a2","config":{"":"v"}}`},
		{4, "", `{"name":"a1","config":{"k":"\u0000"}}`},
		{5, "token", `{"api_key_account_id":"{id}","value":"s3cr3t-value-123456"}`},
		{5, "a/b", `{"api_key_account_id":"{id}"}`},
		{6, "", `{"api_key_account_id":"{id}","secret":"wrong"}`},
		{7, "", `{}`},
		{0, "", `[]`},
		{0, "", `{"name":1e999}`},
		{0, "", `{"name":"x"}{"name":"y"}`},
		{3, "", `{"config":{"a":1}}`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.name, []byte(s.body))
	}

	svc := backendtest.Open(f, backendtest.SQLiteStore(f), "")
	admin := backendtest.Bootstrap(f, svc)
	ctx := context.Background()
	k, err := svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "fuzz-key"})
	if err != nil {
		f.Fatal(err)
	}
	app, err := svc.CreateApp(ctx, backend.CreateAppRequest{Name: "fuzz-app"})
	if err != nil {
		f.Fatal(err)
	}
	h := server.New(server.Config{
		Backend:      svc,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes: 64 << 10,
		FailedLogins: server.RateLimit{Disabled: true},
	})

	f.Fuzz(func(t *testing.T, route uint8, name string, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.NewReplacer("{id}", k.ID, "{app}", app.ID, "{name}", url.PathEscape(name)).Replace(rt.path)
		b := strings.ReplaceAll(string(body), "{id}", k.ID)
		req := httptest.NewRequest(rt.method, path, strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(admin.ID, admin.Secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, path, b, w.Code, w.Body)
		}
		if w.Code == 204 || w.Code == 301 || w.Code == 307 || w.Code == 308 {
			return
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q", rt.method, path, ct)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: the answer is not a JSON object: %s", rt.method, path, w.Body)
		}
		if w.Code >= 400 {
			e, ok := out["error"].(map[string]any)
			if !ok || e["code"] == "" || e["message"] == "" {
				t.Fatalf("%s %s: %d without a JSON error: %s", rt.method, path, w.Code, w.Body)
			}
		}
		// A secret value sent in must never come back.
		var in struct {
			Value *string `json:"value"`
		}
		if json.Unmarshal([]byte(b), &in) == nil && in.Value != nil && len(*in.Value) >= 12 &&
			strings.Contains(w.Body.String(), *in.Value) {
			t.Fatalf("%s %s: the answer echoes the secret value: %s", rt.method, path, w.Body)
		}
	})
}
