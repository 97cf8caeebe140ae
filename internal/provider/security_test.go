package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

// TestAccSecurity_noSecretInTraceLog runs a full rotation (create, rotate by
// trigger, an edit that is not a rotation, destroy) with TF_LOG=TRACE going
// to a file, collects every secret that was ever in state (key secrets, app
// secret values), and then scans the whole log for each, raw and in base64.
// It finds none: the provider masks them, and Terraform never logs
// sensitive values.
func TestAccSecurity_noSecretInTraceLog(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PATH", logFile)
	t.Setenv("TF_ACC_LOG_PATH", "")
	t.Setenv("TF_LOG_PATH_MASK", "")

	e := newAccEnv(t)
	config := func(trigger, description string) string {
		return e.provider() + accKey("k", "key-k", triggers(trigger)+fmt.Sprintf("\n  description = %q", description)) +
			accKey("j", "key-j", triggers(trigger)) + accAppWithSecret("app1", "k") + accAppWithSecret("app3", "j") + `
resource "apphost_app" "app2" {
  name = "app2"
}

resource "apphost_app_secret" "app2" {
  app_id             = apphost_app.app2.id
  name               = apphost_api_key_account.k.name
  api_key_account_id = apphost_api_key_account.k.id
  value_wo           = apphost_api_key_account.k.secret
  value_wo_version   = apphost_api_key_account.k.secret_version
}
`
	}

	secretSet := map[string]bool{}
	collect := []statecheck.StateCheck{collectSecrets(secretSet)}

	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config("1", "first"), ConfigStateChecks: collect},
			{Config: config("2", "first"), ConfigStateChecks: collect},  // rotation
			{Config: config("2", "second"), ConfigStateChecks: collect}, // not a rotation
		},
	})

	secrets := make([]string, 0, len(secretSet))
	for s := range secretSet {
		secrets = append(secrets, s)
	}
	sort.Strings(secrets)
	if len(secrets) < 2 {
		t.Fatalf("only %d secrets were found in state; the test would prove nothing", len(secrets))
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("reading the TRACE log: %v", err)
	}
	// The log must hold the provider's own lines at every level down to
	// TRACE (the protocol, the framework, and the provider's tflog calls), or
	// the scan proves nothing about the provider.
	lines := map[string]int{}
	for _, src := range []string{"[TRACE] sdk.proto:", "[TRACE] sdk.framework:", "[DEBUG] apphost:"} {
		lines[src] = bytes.Count(log, []byte(src))
		if lines[src] == 0 {
			t.Errorf("the TRACE log (%d bytes) has no %q line: is logging captured?", len(log), src)
		}
	}
	for i, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			if at := bytes.Index(log, []byte(form)); at >= 0 {
				lo, hi := max(0, at-200), min(len(log), at+len(form)+50)
				t.Errorf("secret %d of %d is in the TRACE log at byte %d, near:\n%s", i+1, len(secrets),
					at, bytes.ReplaceAll(log[lo:hi], []byte(form), []byte("<SECRET>")))
			}
		}
	}
	t.Logf("scanned %d bytes of TRACE log (lines by source: %v) for %d distinct secrets found in state (raw and base64)",
		len(log), lines, len(secrets))
}

// collectSecrets is a state check that adds to set every secret in the
// state: the secret, value and value_wo attributes of every resource.
type collectSecrets map[string]bool

func (set collectSecrets) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	if req.State == nil || req.State.Values == nil || req.State.Values.RootModule == nil {
		resp.Error = fmt.Errorf("the state has no root module")
		return
	}
	for _, r := range req.State.Values.RootModule.Resources {
		for _, attr := range []string{"secret", "value", "value_wo"} {
			if v, ok := r.AttributeValues[attr].(string); ok && v != "" {
				set[v] = true
			}
		}
	}
}
