//go:build linux

package apphost_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
	"github.com/apphost/terraform-provider-apphost/internal/tfcli"
	"github.com/apphost/terraform-provider-apphost/testutil/netns"
)

// An App Host on another machine (a network namespace) reaches its server
// over HTTPS with --ca-file, and so do its apps; a rotation works across.
// Plain http:// from there is refused: by the host before it sends its
// secret, and by the server, which sees a peer that is not loopback.
func TestHostAcrossNamespacesOverHTTPS(t *testing.T) {
	ns := netns.New(t)
	pki := backendtest.WritePKI(t, net.IP(ns.HostAddr.AsSlice()))
	s := startServe(t, ns.HostAddr.String()+":0", pki.CAFile, "--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile)
	if !strings.HasPrefix(s.URL, "https://"+ns.HostAddr.String()+":") {
		t.Fatalf("serve listens on %s", s.URL)
	}
	id, secretFile := s.hostAccount(t, "edge")
	keyID, appID := s.exampleApp(t, "edge", "collector")
	dir := filepath.Join(t.TempDir(), "host-edge")
	cmd := ns.Command(context.Background(), bin, "host", "--name", "edge", "--endpoint", s.URL,
		"--secret-file", secretFile, "--dir", dir, "--ca-file", pki.CAFile)
	cmd.Dir, cmd.Env = t.TempDir(), tfcli.CleanEnv("APPHOST_API_KEY_ID="+id)
	h := startCmd(t, cmd)

	app := waitApp(t, s, appID, "running", running)
	hosts, err := s.c.ListAppHosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(hosts, func(x backend.AppHost) bool { return x.Name == "edge" })
	if i < 0 || hosts[i].State != backend.AppHostOnline || !strings.HasPrefix(hosts[i].Address, ns.NSAddr.String()+":") {
		t.Fatalf("App Hosts %+v: want edge online from %s", hosts, ns.NSAddr)
	}
	res, err := s.c.RegenerateSecret(t.Context(), backend.RegenerateRequest{ID: keyID})
	if err != nil || res.Rotation == nil || res.Rotation.Outcome != backend.RotationDone {
		t.Fatalf("rotation: %+v, %v", res, err)
	}
	if after := waitApp(t, s, appID, "running", running); after.Process.PID == app.Process.PID {
		t.Errorf("the app runs as PID %d, as before the rotation", app.Process.PID)
	}
	if n := provenLogins(t, s, keyID, "collector", 2); n == 0 {
		t.Errorf("no login of the app as itself with secret_version=2")
	}
	if f := failedLogins(t, s); len(f) > 0 {
		t.Errorf("failed logins: %+v", f)
	}
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := h.wait(t); code != 0 {
		t.Errorf("host exit status %d after SIGTERM, want 0", code)
	}
	if procs := appProcs(t, filepath.Join(dir, "apps", "collector")); len(procs) != 0 {
		t.Errorf("processes of the app after the host's SIGTERM: %v", procs)
	}

	// Plain http:// to the server's address from the namespace.
	plain := startServe(t, ns.HostAddr.String()+":0", "")
	plainID, plainFile := plain.hostAccount(t, "edge")
	cmd = ns.Command(context.Background(), bin, "host", "--name", "edge", "--endpoint", plain.URL,
		"--secret-file", plainFile, "--dir", filepath.Join(t.TempDir(), "host-edge"))
	cmd.Dir, cmd.Env = t.TempDir(), tfcli.CleanEnv("APPHOST_API_KEY_ID="+plainID)
	p := startCmd(t, cmd)
	if code := p.wait(t); code != 2 || !strings.Contains(p.errOut(), "plain http://") {
		t.Errorf("host with endpoint %s: exit status %d, stderr:\n%s\nwant 2, refusing plain http://", plain.URL, code, p.errOut())
	}
	cmd = ns.Command(context.Background(), os.Args[0])
	cmd.Env = append(os.Environ(), envSessionURL+"="+plain.URL+"/v1/app-hosts/edge/sessions",
		envSessionAuth+"="+plainID+":"+readFile(t, plainFile))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("opening a session from the namespace: %v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "403 ") || !strings.Contains(string(out), "HTTPS") {
		t.Errorf("a plain http:// session from %s: %s; want 403, saying to use HTTPS", ns.NSAddr, out)
	}
}
