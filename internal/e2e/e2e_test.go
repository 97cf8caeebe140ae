package e2e

import (
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
)

// TestMain removes the provider binary that tfcli builds for the tests.
func TestMain(m *testing.M) { tfcli.Main(m) }
