package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A server asked to stop (SIGTERM) answers the App Hosts' long polls at
// once, with the desired state as it is, rather than wait them out: the
// shutdown, and a restart with it, takes no longer than the requests in
// flight, not the 25 s a host's long poll may wait (its listener is closed
// meanwhile, so every client would be refused for that long).
//
// A long poll whose connection the shutdown closes before the server read
// its request (the server has not seen it: the client gets EOF, as it
// would on a connection refused) is not the case under test: the scenario
// is tried again, up to three times.
func TestServeShutdownAnswersLongPolls(t *testing.T) {
	for attempt := 1; ; attempt++ {
		unread := serveShutdownWithLongPoll(t)
		if !unread || t.Failed() {
			return
		}
		if attempt == 3 {
			t.Fatalf("in %d tries, the shutdown closed the long poll's connection before the server read it", attempt)
		}
		t.Logf("try %d: the shutdown closed the long poll's connection before the server read it; trying again", attempt)
	}
}

// serveShutdownWithLongPoll runs the scenario once; unread reports that
// the long poll's connection was closed unread (EOF), which says nothing of
// the server's answer.
func serveShutdownWithLongPoll(t *testing.T) (unread bool) {
	id, secret := uuid.NewString(), "env-admin-secret-0123456789abcdefghijkl"
	t.Setenv(EnvAdminKeyID, id)
	t.Setenv(EnvAdminKeySecret, secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	store := "sqlite:" + filepath.Join(t.TempDir(), "a.db")
	go func() {
		done <- runServe(ctx, []string{"--listen", "127.0.0.1:0", "--store", store}, nil, pw, io.Discard)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))

	call := func(c *http.Client, method, path, user, pass, body string, trace *httptrace.ClientTrace, out any) int {
		t.Helper()
		rctx := context.Background()
		if trace != nil {
			rctx = httptrace.WithClientTrace(rctx, trace)
		}
		req, err := http.NewRequestWithContext(rctx, method, url+path, strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0
		}
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0
		}
		defer func() { _ = resp.Body.Close() }()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var host struct{ ID, Secret string }
	if code := call(http.DefaultClient, "POST", "/v1/accounts", id, secret, `{"name":"host-east","app_host":"east"}`, nil, &host); code != http.StatusCreated {
		t.Fatalf("creating the App Host account: HTTP %d", code)
	}
	var sess struct {
		SessionID string `json:"session_id"`
	}
	if code := call(http.DefaultClient, "POST", "/v1/app-hosts/east/sessions", host.ID, host.Secret, `{"instance_id":"i-1","version":"t","driver":"exec"}`, nil, &sess); code != http.StatusCreated {
		t.Fatalf("opening a session: HTTP %d", code)
	}
	var d struct{ Revision int64 }
	if code := call(http.DefaultClient, "GET", "/v1/app-hosts/east/desired?session="+sess.SessionID+"&after=0&wait_ms=0", host.ID, host.Secret, "", nil, &d); code != http.StatusOK {
		t.Fatalf("reading the desired state: HTTP %d", code)
	}

	// A long poll for a revision that does not come, as far as the server
	// lets one wait, on a connection of its own: once it is written, the
	// server reads and serves it even after the shutdown began (an idle
	// keep-alive connection would be closed under it instead).
	const wait = 30 * time.Second
	sent := make(chan struct{})
	answered := make(chan int, 1) // 0: closed unread (EOF)
	go func() {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET",
			url+fmt.Sprintf("/v1/app-hosts/east/desired?session=%s&after=%d&wait_ms=%d", sess.SessionID, d.Revision, wait.Milliseconds()), nil)
		if err != nil {
			t.Error(err)
			close(sent)
			answered <- -1
			return
		}
		req.SetBasicAuth(host.ID, host.Secret)
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		switch {
		case errors.Is(err, io.EOF):
			answered <- 0
		case err != nil:
			t.Errorf("the long poll: %v", err)
			answered <- -1
		default:
			_ = resp.Body.Close()
			answered <- resp.StatusCode
		}
	}()
	<-sent
	// The server accepts connections in the order they came (one accept
	// queue): once a later connection is served, the long poll's was
	// accepted, and a shutdown does not close it before it is served.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if code := call(fresh, "GET", "/healthz", "", "", "", nil, nil); code != http.StatusOK {
		t.Fatalf("GET /healthz: HTTP %d", code)
	}
	stopped := time.Now()
	cancel() // as SIGTERM does
	// Well before the long poll's wait could run out.
	deadline := time.After(wait / 2)
	select {
	case code := <-answered:
		if code == 0 {
			unread = true
		} else if code != http.StatusOK {
			t.Errorf("the long poll was answered HTTP %d at shutdown, want 200 and the desired state", code)
		}
	case <-deadline:
		t.Fatalf("the long poll was not answered %s after the shutdown began", wait/2)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d", code)
		}
	case <-deadline:
		t.Fatalf("serve did not stop %s after the shutdown began", wait/2)
	}
	t.Logf("serve stopped %s after the shutdown began, with a long poll in flight", time.Since(stopped).Round(time.Millisecond))
	return unread
}
