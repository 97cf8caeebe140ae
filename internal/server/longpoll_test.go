package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// An App Host that goes away in the middle of its long poll (stopped,
// killed) is no server failure: the server logs no ERROR for it.
func TestLongPollLeftByItsClientIsNoError(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, err := e.svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "host-east", AppHost: "east"})
	if err != nil {
		t.Fatal(err)
	}
	host := backendtest.Admin{ID: acc.ID, Secret: acc.Secret}
	resp, raw := e.do(t, "POST", "/v1/app-hosts/east/sessions", &host, `{"instance_id":"i-1","driver":"exec"}`, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("session: %d %s", resp.StatusCode, raw)
	}
	session := strings.Split(strings.Split(string(raw), `"session_id":"`)[1], `"`)[0]
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, "GET", e.url+"/v1/app-hosts/east/desired?session="+session+"&after=1000&wait_ms=20000", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(host.ID, host.Secret)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("the long poll answered %d before its client left", resp.StatusCode)
	}
	// The server ends the request once it sees the client gone.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.logs.String(), "client went away") {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not end the long poll of a client that left:\n%s", e.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("the server logged an ERROR for a client that went away:\n%s", e.logs.String())
	}
}
