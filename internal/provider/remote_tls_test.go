package provider

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// startTLSReplica is startReplica for `serve --tls-cert --tls-key` on a
// fresh SQLite store: it waits until /healthz answers over TLS verified
// with caFile.
func startTLSReplica(t *testing.T, caFile, certFile, keyFile string, admin backendtest.Admin) *replica {
	t.Helper()
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdout.Close() }()
	r := &replica{logPath: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	stderr, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stderr.Close() }()
	r.cmd = exec.Command(providerBinary(t), "serve", "--listen", "127.0.0.1:0", "--store", backendtest.SQLiteStore(t),
		"--tls-cert", certFile, "--tls-key", keyFile)
	r.cmd.Dir = dir
	r.cmd.Env = append(cleanEnv(), "APPHOST_ADMIN_KEY_ID="+admin.ID, "APPHOST_ADMIN_KEY_SECRET="+admin.Secret)
	r.cmd.Stdout, r.cmd.Stderr = stdout, stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting serve: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { r.stop(t) })

	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}}}
	defer hc.CloseIdleConnections()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if r.URL == "" {
			out, _ := os.ReadFile(stdout.Name())
			for line := range strings.Lines(string(out)) {
				if u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
					r.URL = u
				}
			}
		}
		if r.URL != "" {
			resp, err := hc.Get(r.URL + "/healthz")
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return r
				}
			}
		}
		select {
		case <-r.done:
			t.Fatalf("serve exited:\n%s", r.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz over TLS in 30s:\n%s", r.log())
		}
	}
}

// TestAccRemote_tls: the provider reaches an HTTPS server whose certificate
// is signed by the CA in ca_file; without ca_file it fails at once, saying
// to set it; insecure_skip_verify reaches it too.
func TestAccRemote_tls(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	pki := backendtest.WritePKI(t)
	caFile, certFile, keyFile := pki.CAFile, pki.CertFile, pki.KeyFile
	admin := newAdmin()
	r := startTLSReplica(t, caFile, certFile, keyFile, admin)
	if !strings.HasPrefix(r.URL, "https://") {
		t.Fatalf("serve listens on %s", r.URL)
	}
	c, err := client.New(client.Config{Endpoint: r.URL, APIKeyID: admin.ID, APIKeySecret: admin.Secret, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	providerBlock := func(tlsSettings string) string {
		return fmt.Sprintf(`
provider "apphost" {
  endpoint       = %[1]q
  api_key_id     = %[2]q
  api_key_secret = %[3]q
  %[4]s
}
`, r.URL, admin.ID, admin.Secret, tlsSettings)
	}
	resources := accKey("k", "tls-key", `description = "over TLS"`)
	withCA := providerBlock(fmt.Sprintf("ca_file = %q", caFile)) + resources

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy: func(*terraform.State) error {
			if _, err := c.GetAccountByName(t.Context(), "tls-key"); err == nil {
				return fmt.Errorf("account tls-key still exists")
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: withCA,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("apphost_api_key_account.k", tfjsonpath.New("secret_version"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("apphost_api_key_account.k", tfjsonpath.New("description"), knownvalue.StringExact("over TLS")),
					statecheck.ExpectKnownValue("apphost_api_key_account.k", tfjsonpath.New("id"), knownvalue.StringFunc(func(id string) error {
						a, err := c.GetAccountByName(t.Context(), "tls-key")
						if err != nil {
							return fmt.Errorf("the server has no account tls-key: %w", err)
						}
						if id != a.ID {
							return fmt.Errorf("state ID %s, server ID %s", id, a.ID)
						}
						return nil
					})),
				},
			},
			// Read back over TLS: an import of the account matches the state.
			{
				Config:                  withCA,
				ResourceName:            "apphost_api_key_account.k",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"secret"},
			},
			// No CA: the refresh fails with what to do.
			{
				Config:      providerBlock("") + resources,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)could not be verified.*set\s+ca_file`),
			},
			{
				Config: providerBlock("insecure_skip_verify = true") + resources,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				Config: withCA,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
		},
	})

	// Every request reached the server over TLS and was logged with its ID.
	if n := len(r.requestsSince(0)); n == 0 {
		t.Error("the server logged no request")
	}
	for line := range strings.Lines(r.log()) {
		if strings.Contains(line, `"msg":"request"`) && !strings.Contains(line, `"request_id":"`) {
			t.Errorf("a request line without a request ID: %s", line)
		}
		if strings.Contains(line, admin.Secret) {
			t.Error("the server log holds the admin secret")
		}
	}
}
