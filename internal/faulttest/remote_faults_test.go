package faulttest

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/testutil/faultproxy"
)

// Request paths the faults target.
const (
	pathRegenerate = "/v1/accounts/*/regenerate"
	pathAppSecret  = "/v1/apps/*/secrets/*"
)

// serve starts `terraform-provider-apphost serve` over a fresh SQLite store
// with the given admin credentials, stopped (SIGTERM) when t ends, and
// returns its URL and the store's path.
func serve(t *testing.T, bin, adminID, adminSecret string) (string, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "server.db")
	// Stopped as t ends: SIGTERM, then SIGKILL if it has not exited in 10s.
	ctx, stop := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:"+db)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), "APPHOST_ADMIN_KEY_ID="+adminID, "APPHOST_ADMIN_KEY_SECRET="+adminSecret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting serve: %v", err)
	}
	t.Cleanup(func() {
		stop()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- strings.TrimSpace(u)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u := <-addr:
		return u, db
	case <-time.After(30 * time.Second):
		t.Fatalf("serve printed no listening address in 30s; stderr:\n%s", stderr.String())
	}
	return "", ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

func mustKey(t *testing.T, st tfState, label string) keyInState {
	t.Helper()
	k, ok := st.key(label)
	if !ok {
		t.Fatalf("key %s is not in state", label)
	}
	return k
}

func remoteProvider(endpoint, id, secret string) string {
	return fmt.Sprintf(`
provider "apphost" {
  endpoint       = %q
  api_key_id     = %q
  api_key_secret = %q
}
`, endpoint, id, secret)
}

// TestRemoteFaultsDuringRotation rotates a key through a fault-injecting
// proxy in front of a real `serve` process, three times:
//
//	a. the first regenerate attempts get a reset and 503s: retried with one
//	   Idempotency-Key, one rotation in the audit log;
//	b. the regenerate's response is lost after the server did the work: the
//	   retry carries the same Idempotency-Key and gets the same secret back,
//	   one regenerate, the apps log in with it;
//	c. the app secret PUT after the rotation (the in-place update of the
//	   first design's value = key.secret, a no-op in the backend) fails with
//	   500: the apply reports it, the new secret is in state, the apps run,
//	   nothing is locked, and the next apply converges with no further
//	   rotation.
func TestRemoteFaultsDuringRotation(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	bin := providerBinary(t)
	adminID, adminSecret := uuid.NewString(), rand.Text()+rand.Text()
	serverURL, db := serve(t, bin, adminID, adminSecret)
	proxy, err := faultproxy.New(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)

	const key = "k1"
	apps := appNames(key, 2)
	keys := map[string][]string{key: apps}
	w := newTFDir(t, filepath.Join(t.TempDir(), "remote"))
	cfg := func(trigger string) string {
		return config(remoteProvider(front.URL, adminID, adminSecret), "", 1, len(apps), trigger)
	}
	w.write(cfg("1"))
	w.mustApply()
	svc := openStore(t, db)

	// faultsSince returns the faults injected after the first n.
	faultsSince := func(n int) []faultproxy.Fault { return proxy.Faults()[n:] }
	logFaults := func(phase string, f []faultproxy.Fault) {
		var b strings.Builder
		for _, x := range f {
			fmt.Fprintf(&b, " %s %s %s;", x.Kind, x.Method, x.Path)
		}
		t.Logf("%s: faults injected: %d:%s", phase, len(f), b.String())
	}
	// sameKey checks that every regenerate request since the first n carried
	// one and the same Idempotency-Key, and returns how many there were.
	sameKey := func(n int) int {
		reqs := proxy.Requests(http.MethodPost, pathRegenerate)[n:]
		if len(reqs) == 0 {
			t.Errorf("no regenerate request went through the proxy")
			return 0
		}
		k := reqs[0].Header.Get(backend.IdempotencyKeyHeader)
		for i, r := range reqs {
			if got := r.Header.Get(backend.IdempotencyKeyHeader); k == "" || got != k {
				t.Errorf("regenerate request %d carries Idempotency-Key %q, want the first attempt's %q", i+1, got, k)
			}
		}
		return len(reqs)
	}
	total := 0

	t.Run("0_refresh_500", func(t *testing.T) {
		w := w.with(t)
		mark, nf := backendtest.LastSeq(t, svc), len(proxy.Faults())
		before := w.state()
		proxy.Add(faultproxy.Rule{Method: http.MethodGet, Path: "/v1/accounts/*", Kind: faultproxy.Status, Status: http.StatusInternalServerError})
		w.write(cfg("2"))
		res := w.run("apply", "-auto-approve", "-input=false")
		f := faultsSince(nf)
		total += len(f)
		logFaults("0", f)
		if len(f) != 1 {
			t.Errorf("%d faults injected, want 1 (the refresh of the key)", len(f))
		}
		if res.Code == 0 || !strings.Contains(res.Output(), "Error reading API key account") {
			t.Fatalf("want the apply to fail on the refresh with \"Error reading API key account\":\n%s", res.Output())
		}
		t.Logf("0: terraform reported: %s", strings.Join(res.ErrorLines(), " | "))
		if ev := backendtest.EventsAfter(t, svc, mark); len(ev) != 0 {
			t.Errorf("the apply failed at refresh but changed the backend:\n%s", auditLog(ev))
		}
		if b, a := mustKey(t, before, key), mustKey(t, w.state(), key); a != b {
			t.Errorf("the key in state changed: %d -> %d", b.Version, a.Version)
		}
	})

	t.Run("a_503_and_resets_around_regenerate", func(t *testing.T) {
		w := w.with(t)
		mark, nf, nr := backendtest.LastSeq(t, svc), len(proxy.Faults()), len(proxy.Requests(http.MethodPost, pathRegenerate))
		// The rotation's one call: a reset, then two 503s.
		proxy.Add(faultproxy.Rule{Method: http.MethodPost, Path: pathRegenerate, Kind: faultproxy.Reset})
		proxy.Add(faultproxy.Rule{Method: http.MethodPost, Path: pathRegenerate, Nth: 2, Times: 2, Kind: faultproxy.Status, Status: http.StatusServiceUnavailable})
		w.write(cfg("2"))
		w.mustApply()
		f := faultsSince(nf)
		total += len(f)
		logFaults("a", f)
		if len(f) != 3 {
			t.Errorf("%d faults injected, want 3 (a reset and two 503 regenerates)", len(f))
		}
		attempts := sameKey(nr)
		ev := backendtest.EventsAfter(t, svc, mark)
		if n := backendtest.Count(ev, backend.ActionAccountRegenerate); n != 1 {
			t.Errorf("%d regenerate events, want 1:\n%s", n, auditLog(ev))
		}
		t.Logf("a: %d regenerate attempts through the proxy, 1 reached the server", attempts)
		st := w.state()
		if ks, _ := st.key(key); ks.Version != 2 {
			t.Errorf("secret_version %d in state, want 2", ks.Version)
		}
		requireConverged(t, svc, st, mark, keys)
		w.requireEmptyPlan()
	})

	t.Run("b_regenerate_response_lost", func(t *testing.T) {
		w := w.with(t)
		mark, nf, nr := backendtest.LastSeq(t, svc), len(proxy.Faults()), len(proxy.Requests(http.MethodPost, pathRegenerate))
		proxy.Add(faultproxy.Rule{Method: http.MethodPost, Path: pathRegenerate, Kind: faultproxy.DropResponse})
		// After it, the first app secret PUT gets a 503: retried (a PUT is safe to repeat).
		proxy.Add(faultproxy.Rule{Method: http.MethodPut, Path: pathAppSecret, Kind: faultproxy.Status, Status: http.StatusServiceUnavailable})
		w.write(cfg("3"))
		w.mustApply()
		f := faultsSince(nf)
		total += len(f)
		logFaults("b", f)
		if len(f) != 2 {
			t.Errorf("%d faults injected, want 2 (the regenerate's response dropped, a 503 PUT)", len(f))
		}
		attempts := sameKey(nr)
		if attempts < 2 {
			t.Errorf("%d regenerate requests, want the dropped one and its retry", attempts)
		}
		t.Logf("b: %d regenerate requests reached the server with one Idempotency-Key", attempts)
		ev := backendtest.EventsAfter(t, svc, mark)
		if n := backendtest.Count(ev, backend.ActionAccountRegenerate); n != 1 {
			t.Errorf("%d regenerate events, want 1 (the retry must return the first result):\n%s", n, auditLog(ev))
		}
		st := w.state()
		if ks, _ := st.key(key); ks.Version != 3 {
			t.Errorf("secret_version %d in state, want 3", ks.Version)
		}
		// The secret in state is the one the server generated: it logs in,
		// and so do the apps that hold it.
		requireConverged(t, svc, st, mark, keys)
		w.requireEmptyPlan()
	})

	t.Run("c_secret_put_500_after_regenerate", func(t *testing.T) {
		w := w.with(t)
		mark, nf := backendtest.LastSeq(t, svc), len(proxy.Faults())
		proxy.Add(faultproxy.Rule{Method: http.MethodPut, Path: pathAppSecret, Kind: faultproxy.Status, Status: http.StatusInternalServerError})
		w.write(cfg("4"))
		res := w.run("apply", "-auto-approve", "-input=false")
		f := faultsSince(nf)
		total += len(f)
		logFaults("c", f)
		if len(f) != 1 {
			t.Errorf("%d faults injected, want 1 (the first app secret PUT)", len(f))
		}
		if res.Code == 0 {
			t.Fatalf("the apply succeeded although an app secret PUT failed:\n%s", res.Output())
		}
		t.Logf("c: terraform reported: %s", strings.Join(res.ErrorLines(), " | "))
		if !strings.Contains(res.Output(), "Error storing app secret") {
			t.Errorf("the apply's error does not say the app secret was not stored:\n%s", res.Output())
		}
		st := w.state()
		ks, _ := st.key(key)
		acct, err := svc.GetAccount(context.Background(), ks.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ks.Version != 4 || acct.SecretVersion != 4 {
			t.Errorf("secret_version %d in state and %d in the store after the failed apply, want 4 in both", ks.Version, acct.SecretVersion)
		}
		if acct.Locked || acct.FailedLoginAttempts != 0 {
			t.Errorf("after the failed apply: locked=%v failed_login_attempts=%d", acct.Locked, acct.FailedLoginAttempts)
		}
		ev := backendtest.EventsAfter(t, svc, mark)
		if n := backendtest.Count(ev, backend.ActionLoginFailure) + backendtest.Count(ev, backend.ActionAccountLock); n > 0 {
			t.Errorf("failed logins or locks after the failed PUT:\n%s", auditLog(ev))
		}
		if err := svc.Login(context.Background(), backend.LoginRequest{AccountID: ks.ID, Secret: ks.Secret}); err != nil {
			t.Errorf("the secret in state after the failed apply does not log in: %v", err)
		}
		for _, name := range apps {
			a, err := svc.GetAppByName(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("c: after the failed apply: app %s deployed=%v status=%s secrets=%d", name, a.Deployed, a.Status, len(a.Secrets))
		}

		w.mustApply()
		ev = backendtest.EventsAfter(t, svc, mark)
		if n := backendtest.Count(ev, backend.ActionAccountRegenerate); n != 1 {
			t.Errorf("%d regenerate events across the failed apply and the next one, want 1:\n%s", n, auditLog(ev))
		}
		st = w.state()
		if ks, _ := st.key(key); ks.Version != 4 {
			t.Errorf("secret_version %d in state after the next apply, want 4", ks.Version)
		}
		requireConverged(t, svc, st, mark, keys)
		w.requireEmptyPlan()
	})
	integrityCheck(t, db)
	t.Logf("faults injected in all: %d (proxy count %d)", total, len(proxy.Faults()))
}
