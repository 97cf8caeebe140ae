package backendtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/postgres"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

// The child process of TestKillMidRotation is this test binary, told by
// these variables which store to open and which account to rotate.
const (
	envKillStore   = "APPHOST_TEST_KILL_STORE"
	envKillKeyFile = "APPHOST_TEST_KILL_KEY_FILE"
	envKillAccount = "APPHOST_TEST_KILL_ACCOUNT"
	envKillMarker  = "APPHOST_TEST_KILL_MARKER"
)

// TestKillMidRotation: the process that runs a rotation (the provider with
// the embedded backend, or serve) is killed with SIGKILL inside the
// rotation's transaction, after it undeployed the apps, regenerated and
// resealed, before it deployed them again. The store must be exactly as
// before the call: same secret_version, apps running on the old secret, no
// audit event of the rotation. SQLite and PostgreSQL.
func TestKillMidRotation(t *testing.T) {
	if spec := os.Getenv(envKillStore); spec != "" {
		rotateAndHang(t, spec)
		return
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string
	}{{"SQLite", func(t *testing.T) string { return SQLiteStore(t) }}, {"Postgres", PostgresStore}} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.store(t)
			svc, keyFile := openWithKey(t, spec, "")
			ctx := context.Background()
			k := must(svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k"}))(t)
			apps := []*backend.App{boundApp(t, svc, "forwarder", k), boundApp(t, svc, "second", k)}
			seq := lastSeq(t, svc)

			marker := filepath.Join(t.TempDir(), "in-transaction")
			cmd := exec.Command(os.Args[0], "-test.run=^TestKillMidRotation$", "-test.count=1")
			cmd.Env = append(os.Environ(), envKillStore+"="+spec, envKillKeyFile+"="+keyFile,
				envKillAccount+"="+k.ID, envKillMarker+"="+marker)
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				if _, err := os.Stat(marker); err == nil {
					break
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatalf("the child never reached the middle of the rotation:\n%s", out)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			var exitErr *exec.ExitError
			if err := cmd.Wait(); !errors.As(err, &exitErr) {
				t.Fatalf("the child was not killed: %v\n%s", err, out)
			}
			t.Logf("faults injected: 1 SIGKILL inside the rotation's transaction")

			if got := must(svc.GetAccount(ctx, k.ID))(t); got.SecretVersion != 1 || got.Locked {
				t.Errorf("after the kill: %+v, want secret_version 1, unlocked", got)
			}
			if ev := must(svc.ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: seq}))(t); len(ev) != 0 {
				t.Errorf("the killed rotation left events: %v", actions(ev))
			}
			for _, a := range apps {
				got := must(svc.GetApp(ctx, a.ID))(t)
				if !got.Deployed || got.Status != backend.StatusRunning {
					t.Errorf("after the kill %s: deployed %v, status %s", got.Name, got.Deployed, got.Status)
				}
				// The app still holds the old secret: a redeploy logs in.
				must(svc.UndeployApp(ctx, a.ID))(t)
				if got := must(svc.DeployApp(ctx, a.ID))(t); got.Status != backend.StatusRunning {
					t.Errorf("redeploying %s after the kill: %s", got.Name, got.Status)
				}
			}
			noErr(t, svc.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: k.Secret}))
			// And the next rotation goes through.
			r := must(svc.RegenerateSecret(ctx, backend.RegenerateRequest{ID: k.ID, ExpectedSecretVersion: 1}))(t)
			if r.SecretVersion != 2 {
				t.Errorf("the rotation after the kill: version %d", r.SecretVersion)
			}
		})
	}
}

// rotateAndHang is the child: it starts a rotation over its own handle on
// the store and hangs inside the transaction, at the first redeploy.
func rotateAndHang(t *testing.T, spec string) {
	ctx := context.Background()
	var st store.Store
	var err error
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		st, err = sqlite.Open(path)
	} else {
		st, err = postgres.Open(ctx, spec)
	}
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.LoadOrCreate(os.Getenv(envKillKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(hangingStore{Store: st, marker: os.Getenv(envKillMarker)}, box, core.Options{})
	_, err = svc.RegenerateSecret(ctx, backend.RegenerateRequest{ID: os.Getenv(envKillAccount)})
	t.Fatalf("the rotation returned (%v); it should have hung", err)
}

// hangingStore hangs a write transaction at its first app.deploy event,
// after writing the marker file.
type hangingStore struct {
	store.Store
	marker string
}

func (h hangingStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	return h.Store.Write(ctx, func(tx store.Tx) error { return fn(hangingTx{Tx: tx, marker: h.marker}) })
}

type hangingTx struct {
	store.Tx
	marker string
}

func (h hangingTx) AppendAudit(ctx context.Context, e store.AuditRow) (int64, error) {
	if e.Action == backend.ActionAppDeploy {
		_ = os.WriteFile(h.marker, nil, 0o600)
		time.Sleep(time.Hour)
	}
	return h.Tx.AppendAudit(ctx, e)
}
