package netns_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/testutil/netns"
)

// envURL makes the test binary an HTTP client (run inside a namespace): it
// gets the URL within envTimeout and exits 0 on a 200, else 1.
const (
	envURL     = "APPHOST_NETNS_TEST_URL"
	envTimeout = "APPHOST_NETNS_TEST_TIMEOUT"
)

func TestMain(m *testing.M) {
	if u := os.Getenv(envURL); u != "" {
		d, _ := time.ParseDuration(os.Getenv(envTimeout))
		os.Exit(get(u, d))
	}
	os.Exit(m.Run())
}

func get(u string, timeout time.Duration) int {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}

// reach runs the client inside n against u: whether it got through within
// timeout.
func reach(t *testing.T, n *netns.NS, u string, timeout time.Duration) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout+30*time.Second)
	defer cancel()
	cmd := n.Command(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), envURL+"="+u, envTimeout+"="+timeout.String())
	out, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatalf("running the client in %s: %v", n.Name, err)
	}
	return err == nil, strings.TrimSpace(string(out))
}

// A server bound on the root end is reached from inside the namespace, not
// while the link is down, and again once it is up; the namespace and the
// veth pair are gone after the test.
func TestNamespace(t *testing.T) {
	var n *netns.NS
	t.Run("link", func(t *testing.T) {
		n = netns.New(t)
		if !n.Prefix.Contains(n.HostAddr) || !n.Prefix.Contains(n.NSAddr) || n.Prefix.Bits() != 30 || n.HostAddr == n.NSAddr {
			t.Fatalf("addresses %s and %s in %s", n.HostAddr, n.NSAddr, n.Prefix)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(n.HostAddr.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		u := "http://" + ln.Addr().String() + "/"

		if ok, out := reach(t, n, u, 20*time.Second); !ok {
			t.Fatalf("the root end's server is not reached from inside the namespace: %s", out)
		}
		n.LinkDown(t)
		if ok, _ := reach(t, n, u, time.Second); ok {
			t.Fatal("the server is reached with the link down")
		}
		n.LinkUp(t)
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok, out := reach(t, n, u, 2*time.Second)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server is not reached after the link came up: %s", out)
			}
		}
	})
	if n == nil {
		return // skipped
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), n.Name) {
		t.Errorf("namespace %s is left after its test", n.Name)
	}
	if exec.Command("ip", "link", "show", n.HostIf).Run() == nil {
		t.Errorf("veth %s is left after its test", n.HostIf)
	}
}

// A server bound on one namespace's root end serves another namespace
// routed to it; each namespace's link down cuts that namespace only.
func TestRoute(t *testing.T) {
	a := netns.New(t)
	b := netns.New(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(a.HostAddr.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	u := "http://" + ln.Addr().String() + "/"

	if ok, _ := reach(t, b, u, time.Second); ok {
		t.Fatal("the other namespace's root end is reached without a route")
	}
	b.Route(t, a.HostAddr)
	if ok, out := reach(t, b, u, 20*time.Second); !ok {
		t.Fatalf("the routed namespace does not reach the server: %s", out)
	}
	a.LinkDown(t)
	if ok, out := reach(t, b, u, 20*time.Second); !ok {
		t.Fatalf("the routed namespace does not reach the server while the other's link is down: %s", out)
	}
	if ok, _ := reach(t, a, u, time.Second); ok {
		t.Fatal("the server is reached from the namespace whose link is down")
	}
	b.LinkDown(t)
	if ok, _ := reach(t, b, u, time.Second); ok {
		t.Fatal("the routed namespace reaches the server with its own link down")
	}
}

// A process left running in the namespace does not keep it: the cleanup
// kills it.
func TestCleanupKillsLeftovers(t *testing.T) {
	var (
		n   *netns.NS
		cmd *exec.Cmd
	)
	t.Run("leave", func(t *testing.T) {
		n = netns.New(t)
		cmd = n.Command(context.Background(), "sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// In the namespace (ip netns exec has made its setns) before the
		// test ends.
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _ := exec.Command("ip", "netns", "pids", n.Name).Output()
			if slices.Contains(strings.Fields(string(out)), strconv.Itoa(cmd.Process.Pid)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d did not enter %s", cmd.Process.Pid, n.Name)
			}
			time.Sleep(5 * time.Millisecond) // polling with a deadline
		}
	})
	if n == nil {
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		_ = err // killed: an error is what it ends with
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("the process left in the namespace was not killed")
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), n.Name) {
		t.Errorf("namespace %s is left after its test", n.Name)
	}
}

// A namespace left by a test process that was killed is removed by the next
// New.
func TestSweepsLeftovers(t *testing.T) {
	netns.New(t)                                    // skips when unavailable
	const stale = "apphost-test-999999999-deadbeef" // no such PID
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", stale).Run() })
	netns.New(t)
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), stale) {
		t.Errorf("the left-over namespace %s was not removed", stale)
	}
}
