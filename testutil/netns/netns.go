// Package netns is test tooling: a network namespace joined to the root
// namespace by a veth pair, so that a test can run a process "on another
// machine" (an App Host, a server) and cut its link. It needs root and
// iproute2's ip; without them a test skips, unless APPHOST_REQUIRE_NETNS=1
// (CI), where it fails.
//
// Each namespace gets a /30 of 10.213.0.0/16 that no address of the root
// namespace is in: the root end has the first host address, the namespace
// end the second. Traffic goes only between those two ends. The namespace,
// the veth pair and any process left in the namespace are removed when the
// test ends, even when it fails; namespaces left by a test process that was
// killed are removed by the next New.
package netns

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"testing"
)

// EnvRequire=1 turns a missing facility from a skip into a failure.
const EnvRequire = "APPHOST_REQUIRE_NETNS"

// NS is a network namespace with a veth link to the root namespace.
type NS struct {
	// Name is the namespace's name (ip netns NAME).
	Name string
	// HostIf and NSIf are the veth ends: in the root namespace and in Name.
	HostIf, NSIf string
	// Prefix is the /30 of the link.
	Prefix netip.Prefix
	// HostAddr is the root end's address: bind a server here to reach it
	// from inside the namespace (loopback is per namespace).
	HostAddr netip.Addr
	// NSAddr is the namespace end's address.
	NSAddr netip.Addr
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s=1, but network namespaces are unavailable here: %s", EnvRequire, why)
	}
	t.Skipf("network namespaces are unavailable (%s): run the tests as root on Linux with iproute2 (set %s=1 to make this a failure)", why, EnvRequire)
}

// Command is a command that runs name with args inside the namespace.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}
