package backend

import (
	"strings"
	"testing"
)

func TestIsAccountID(t *testing.T) {
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"} {
		if !IsAccountID(id) {
			t.Errorf("IsAccountID(%q) = false", id)
		}
	}
	for _, id := range []string{
		"", "admin-id", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", // 32 hex digits: a secret's shape, and uuid.Parse takes it
		"{00000000-0000-4000-8000-000000000000}", "urn:uuid:00000000-0000-4000-8000-000000000000",
		"00000000-0000-4000-8000-00000000000g", "00000000_0000-4000-8000-000000000000", strings.Repeat("a", 1<<20),
	} {
		if IsAccountID(id) {
			t.Errorf("IsAccountID(%.50q) = true", id)
		}
	}
}
