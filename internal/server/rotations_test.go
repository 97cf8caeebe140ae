package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// A regenerate with Prefer: respond-async answers 202 with the rotation at
// once; the rotation is polled, and its result goes only to the holder of
// its Idempotency-Key. Without the header the answer stays the synchronous
// 200 of older clients.
func TestAsyncRegenerate(t *testing.T) {
	e := newEnv(t, 0)
	_, raw := e.do(t, "POST", "/v1/accounts", &e.admin, `{"name":"k"}`, nil)
	var acc backend.AccountWithSecret
	if err := json.Unmarshal(raw, &acc); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(backend.IdempotencyKeyHeader, "apply-1")
	h.Set("Prefer", "respond-async")
	resp, raw := e.do(t, "POST", "/v1/accounts/"+acc.ID+"/regenerate", &e.admin, `{"expected_secret_version":1,"reason":"r"}`, h)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Preference-Applied") != "respond-async" {
		t.Fatalf("async regenerate = %d %s", resp.StatusCode, raw)
	}
	if strings.Contains(string(raw), `"secret"`) {
		t.Errorf("the 202 answer carries a secret: %s", raw)
	}
	var rot backend.Rotation
	if err := json.Unmarshal(raw, &rot); err != nil || rot.ID == "" || resp.Header.Get("Location") != "/v1/rotations/"+rot.ID {
		t.Fatalf("rotation %+v, Location %q, %v", rot, resp.Header.Get("Location"), err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !rot.Ended() {
		if time.Now().After(deadline) {
			t.Fatalf("the rotation did not end: %+v", rot)
		}
		time.Sleep(10 * time.Millisecond)
		_, raw = e.do(t, "GET", "/v1/rotations/"+rot.ID, &e.admin, "", nil)
		if err := json.Unmarshal(raw, &rot); err != nil {
			t.Fatal(err)
		}
	}
	if rot.Outcome != backend.RotationDone || rot.ToVersion != 2 || rot.Reason != "r" {
		t.Errorf("rotation = %+v", rot)
	}

	wrong := http.Header{}
	wrong.Set(backend.IdempotencyKeyHeader, "guess")
	if resp, raw := e.do(t, "POST", "/v1/rotations/"+rot.ID+"/result", &e.admin, "", wrong); resp.StatusCode != http.StatusNotFound || strings.Contains(string(raw), `"secret"`) {
		t.Errorf("result with another key = %d %s", resp.StatusCode, raw)
	}
	resp, raw = e.do(t, "POST", "/v1/rotations/"+rot.ID+"/result", &e.admin, "", h)
	var res backend.AccountWithSecret
	if err := json.Unmarshal(raw, &res); err != nil || resp.StatusCode != http.StatusOK || res.Secret == "" || res.SecretVersion != 2 {
		t.Fatalf("result = %d %s", resp.StatusCode, raw)
	}
	// The same request again replays, asynchronously or not.
	resp, raw = e.do(t, "POST", "/v1/accounts/"+acc.ID+"/regenerate", &e.admin, `{"expected_secret_version":1,"reason":"r"}`, h)
	var again backend.Rotation
	if err := json.Unmarshal(raw, &again); err != nil || resp.StatusCode != http.StatusAccepted || again.ID != rot.ID {
		t.Errorf("repeat = %d %s", resp.StatusCode, raw)
	}
	// Another request with a used key is refused: 409, nothing changed.
	resp, raw = e.do(t, "POST", "/v1/accounts/"+acc.ID+"/regenerate", &e.admin, `{"expected_secret_version":1,"expose_secret":false}`, h)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(raw), backend.CodeIdempotencyMismatch) {
		t.Errorf("reuse of the key for another body = %d %s", resp.StatusCode, raw)
	}
	// Without Prefer, the synchronous answer of API version 2.
	sync := http.Header{}
	sync.Set(backend.IdempotencyKeyHeader, "apply-2")
	resp, raw = e.do(t, "POST", "/v1/accounts/"+acc.ID+"/regenerate", &e.admin, `{"expected_secret_version":2}`, sync)
	if err := json.Unmarshal(raw, &res); err != nil || resp.StatusCode != http.StatusOK || res.SecretVersion != 3 || res.Secret == "" {
		t.Errorf("synchronous regenerate = %d %s", resp.StatusCode, raw)
	}
	_, raw = e.do(t, "GET", "/v1/rotations?api_key_account_id="+acc.ID, &e.admin, "", nil)
	var list struct{ Rotations []backend.Rotation }
	if err := json.Unmarshal(raw, &list); err != nil || len(list.Rotations) != 2 || list.Rotations[0].ToVersion != 3 {
		t.Errorf("rotations = %s", raw)
	}
}
