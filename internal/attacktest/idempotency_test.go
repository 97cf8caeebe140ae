package attacktest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestFinding7_idempotencyKeyReusedForAnotherBody (issue 16): an
// Idempotency-Key reused with another request body is a 409 that says so,
// and changes nothing; it never replays the first result (a request with
// expose_secret false got the old secret back). The same body replays.
func TestFinding7_idempotencyKeyReusedForAnotherBody(t *testing.T) {
	store := backendtest.SQLiteStore(t)
	admin := newAdmin()
	s := startServe(t, "", adminEnv(admin), "--store", store)
	c := from("127.0.0.1")
	code, body := call(t, c, "POST", s.URL+"/v1/accounts", &admin, `{"name":"k"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var acc backend.AccountWithSecret
	if err := json.Unmarshal([]byte(body), &acc); err != nil {
		t.Fatal(err)
	}
	regenerate := func(reqBody string) (int, string) {
		req, err := http.NewRequest("POST", s.URL+"/v1/accounts/"+acc.ID+"/regenerate", strings.NewReader(reqBody))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(admin.ID, admin.Secret)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(backend.IdempotencyKeyHeader, "apply-1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, first := regenerate(`{"expected_secret_version":1}`)
	if code != 200 {
		t.Fatalf("first regenerate: %d %s", code, first)
	}
	code, body = regenerate(`{"expected_secret_version":1,"expose_secret":false}`)
	if code != 409 || errorCode(body) != backend.CodeIdempotencyMismatch || strings.Contains(body, "ahk_") {
		t.Errorf("the key reused with another body: %d %s; want 409 %s and no secret", code, body, backend.CodeIdempotencyMismatch)
	}
	if a := accounts(t, store)[acc.ID]; a.SecretVersion != 2 {
		t.Errorf("after the refused reuse: secret_version %d, want 2 (nothing changed)", a.SecretVersion)
	}
	code, again := regenerate(`{"expected_secret_version":1}`)
	if code != 200 || again != first {
		t.Errorf("the same body again: %d, same answer %v", code, again == first)
	}
}
