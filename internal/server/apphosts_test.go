package server_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// The App Host protocol's own refusals are 409s with their codes, as the
// OpenAPI document says, not 500s: a host tells "another instance is online"
// and "this session was replaced" from a server failure by them.
func TestAppHostConflicts(t *testing.T) {
	e := newEnv(t, 0)
	acct, err := e.svc.CreateAccount(t.Context(), backend.CreateAccountRequest{Name: "host-east", AppHost: "east"})
	if err != nil {
		t.Fatal(err)
	}
	host := &backendtest.Admin{ID: acct.ID, Secret: acct.Secret}
	open := func(instance string) (int, []byte) {
		resp, raw := e.do(t, "POST", "/v1/app-hosts/east/sessions", host,
			fmt.Sprintf(`{"instance_id":%q,"version":"test","driver":"virtual"}`, instance), nil)
		return resp.StatusCode, raw
	}
	status, raw := open("instance-a")
	if status != 201 {
		t.Fatalf("open: %d %s", status, raw)
	}
	var sess hostapi.Session
	if err := json.Unmarshal(raw, &sess); err != nil || sess.SessionID == "" {
		t.Fatalf("session %s: %v", raw, err)
	}

	resp, raw := e.do(t, "POST", "/v1/app-hosts/east/sessions", host, `{"instance_id":"instance-b","version":"test","driver":"virtual"}`, nil)
	wantError(t, resp, raw, 409, hostapi.CodeInUse)

	resp, raw = e.do(t, "GET", "/v1/app-hosts/east/desired?session=not-the-session&after=0&wait_ms=0", host, "", nil)
	wantError(t, resp, raw, 409, hostapi.CodeFenced)
	resp, raw = e.do(t, "POST", "/v1/app-hosts/east/reports", host, `{"session_id":"not-the-session","revision":0,"apps":[]}`, nil)
	wantError(t, resp, raw, 409, hostapi.CodeFenced)

	// The same instance takes its name over; its old session is fenced.
	if status, raw := open("instance-a"); status != 201 {
		t.Fatalf("reopen: %d %s", status, raw)
	}
	resp, raw = e.do(t, "GET", "/v1/app-hosts/east/desired?session="+sess.SessionID+"&after=0&wait_ms=0", host, "", nil)
	wantError(t, resp, raw, 409, hostapi.CodeFenced)
}
