//go:build linux

package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pool is where the /30s come from: a range unlikely to be used on a test
// machine.
var pool = netip.MustParsePrefix("10.213.0.0/16")

// namePrefix starts the name of every namespace this package makes; the
// creating process's PID follows, so that a later run can tell a left-over.
const namePrefix = "apphost-test-"

// New makes a namespace and its link for t, removed when t ends. It skips t
// when network namespaces are unavailable (not root, not Linux, no ip),
// unless APPHOST_REQUIRE_NETNS=1.
func New(t testing.TB) *NS {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "iproute2's ip is not on PATH")
	}

	unlock := lock(t)
	defer unlock()
	sweep()
	var r [4]byte
	_, _ = rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	n := &NS{
		Name:   fmt.Sprintf("%s%d-%s", namePrefix, os.Getpid(), id),
		HostIf: "ahv" + id + "h", // at most 15 characters
		NSIf:   "ahv" + id + "n",
	}
	var err error
	if n.Prefix, err = freePrefix(); err != nil {
		t.Fatal(err)
	}
	n.HostAddr = n.Prefix.Addr().Next()
	n.NSAddr = n.HostAddr.Next()

	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		unavailable(t, fmt.Sprintf("ip netns add: %v: %s", err, bytes.TrimSpace(out)))
	}
	t.Cleanup(func() { n.remove(t) })
	for _, args := range [][]string{
		{"link", "add", n.HostIf, "type", "veth", "peer", "name", n.NSIf},
		{"link", "set", n.NSIf, "netns", n.Name},
		{"addr", "add", prefixed(n.HostAddr, n.Prefix), "dev", n.HostIf},
		{"link", "set", n.HostIf, "up"},
		{"-n", n.Name, "addr", "add", prefixed(n.NSAddr, n.Prefix), "dev", n.NSIf},
		{"-n", n.Name, "link", "set", n.NSIf, "up"},
		{"-n", n.Name, "link", "set", "lo", "up"},
	} {
		ip(t, args...)
	}
	return n
}

func prefixed(a netip.Addr, p netip.Prefix) string {
	return netip.PrefixFrom(a, p.Bits()).String()
}

// ip runs ip with args and fails t when it fails.
func ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// LinkDown cuts the link (the root end goes down): from then on, nothing
// passes between the namespace and the root namespace.
func (n *NS) LinkDown(t testing.TB) {
	t.Helper()
	ip(t, "link", "set", n.HostIf, "down")
}

// LinkUp joins the link again.
func (n *NS) LinkUp(t testing.TB) {
	t.Helper()
	ip(t, "link", "set", n.HostIf, "up")
}

// Route makes addr, an address of the root namespace (such as another
// namespace's HostAddr, where a server may listen for several namespaces),
// reachable from inside n: a /32 route through n's link. Nothing else is
// routed. Traffic to addr from n stops while n's link is down, whatever
// the state of the link addr is on.
func (n *NS) Route(t testing.TB, addr netip.Addr) {
	t.Helper()
	ip(t, "-n", n.Name, "route", "add", netip.PrefixFrom(addr, addr.BitLen()).String(), "via", n.HostAddr.String(), "dev", n.NSIf)
}

// remove kills what runs in the namespace, then removes it and the veth.
func (n *NS) remove(t testing.TB) {
	if err := removeNamespace(n.Name); err != nil {
		t.Errorf("removing network namespace %s: %v", n.Name, err)
	}
	// The veth goes with the namespace, once the kernel has torn it down
	// (asynchronously); a failed setup may leave it in the root namespace.
	deadline := time.Now().Add(10 * time.Second)
	for linkExists(n.HostIf) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // waiting for the kernel's teardown
	}
	if linkExists(n.HostIf) {
		out, err := exec.Command("ip", "link", "del", n.HostIf).CombinedOutput()
		if err != nil && linkExists(n.HostIf) {
			t.Errorf("ip link del %s: %v: %s", n.HostIf, err, bytes.TrimSpace(out))
		}
	}
}

func linkExists(name string) bool {
	return exec.Command("ip", "link", "show", name).Run() == nil
}

func removeNamespace(name string) error {
	// A process that was entering the namespace (ip netns exec between
	// its start and its setns) shows only on a later look: look until two
	// looks in a row find none.
	for empty := 0; empty < 2; {
		out, _ := exec.Command("ip", "netns", "pids", name).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			empty++
		} else {
			empty = 0
		}
		for _, f := range pids {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond) // the next look
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// sweep removes the namespaces of test processes that are gone (killed
// before their cleanup ran). Deleting a namespace deletes its veth pair.
func sweep() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rest, ok := strings.CutPrefix(fields[0], namePrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil {
			continue // malformed, or its process lives
		}
		_ = removeNamespace(fields[0])
	}
}

// freePrefix picks a /30 of the pool that no address of the root namespace
// is in (the ends of other tests' links included).
func freePrefix() (netip.Prefix, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("ip -4 addr show: %w", err)
	}
	var used []netip.Addr
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					used = append(used, p.Addr())
				}
			}
		}
	}
	base := binary.BigEndian.Uint32(pool.Addr().AsSlice())
	size := uint32(1) << (32 - pool.Bits())
	for range 64 {
		var r [4]byte
		_, _ = rand.Read(r[:])
		off := binary.BigEndian.Uint32(r[:]) % size &^ 3
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], base+off)
		p := netip.PrefixFrom(netip.AddrFrom4(a), 30)
		free := true
		for _, u := range used {
			if p.Contains(u) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /30 in %s", pool)
}

// lock serialises the choice of names and addresses between test processes
// (go test runs packages in parallel).
func lock(t testing.TB) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "apphost-netns.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			t.Fatalf("locking %s: %v", f.Name(), err)
		}
		time.Sleep(10 * time.Millisecond) // waiting for another test process
	}
	return func() { _ = f.Close() }
}
