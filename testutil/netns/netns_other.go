//go:build !linux

package netns

import (
	"net/netip"
	"testing"
)

// New skips t (fails it with APPHOST_REQUIRE_NETNS=1): network namespaces
// are Linux's.
func New(t testing.TB) *NS {
	t.Helper()
	unavailable(t, "not Linux")
	return nil
}

// LinkDown cannot happen here.
func (n *NS) LinkDown(t testing.TB) { t.Helper(); t.Fatal("netns: not Linux") }

// LinkUp cannot happen here.
func (n *NS) LinkUp(t testing.TB) { t.Helper(); t.Fatal("netns: not Linux") }

// Route cannot happen here.
func (n *NS) Route(t testing.TB, _ netip.Addr) { t.Helper(); t.Fatal("netns: not Linux") }
