package backendtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/internal/store/postgres"
	"github.com/apphost/terraform-provider-apphost/internal/store/sqlite"
)

// The child process of TestKillAtEachRotationStep is this test binary, told
// by these variables which store to open, which account to rotate and in
// which step's transaction to hang.
const (
	envKillStore   = "APPHOST_TEST_KILL_STORE"
	envKillKeyFile = "APPHOST_TEST_KILL_KEY_FILE"
	envKillAccount = "APPHOST_TEST_KILL_ACCOUNT"
	envKillMarker  = "APPHOST_TEST_KILL_MARKER"
	envKillStep    = "APPHOST_TEST_KILL_STEP"
)

// killLease is the child's rotation lease: the parent takes over after it.
const killLease = 300 * time.Millisecond

// TestKillAtEachRotationStep: the process that drives a rotation (the
// provider with the embedded backend, or serve) is killed with SIGKILL
// inside the transaction of each step in turn: the start, preparing,
// stopping, regenerating, starting. The step's transaction never commits;
// the rotation stays where the step before left it, and the next write on
// the account (here the retry of the same request) takes it over once the
// dead driver's lease expired and finishes it: the key is rotated exactly
// once, every app runs on the new secret. SQLite and PostgreSQL, each
// strategy: an overlap rotation's transactions are the start, preparing,
// issuing (the pending secret), and moving each app in turn (the last one
// also makes the pending secret current).
func TestKillAtEachRotationStep(t *testing.T) {
	if spec := os.Getenv(envKillStore); spec != "" {
		rotateAndHang(t, spec)
		return
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string
	}{{"SQLite", func(t *testing.T) string { return SQLiteStore(t) }}, {"Postgres", PostgresStore}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, strategy := range backend.RotationStrategies {
				for step := range 5 {
					t.Run(fmt.Sprintf("%s/step %d", strategy, step), func(t *testing.T) { killAtStep(t, tc.store(t), strategy, step) })
				}
			}
		})
	}
}

// killStates are, per strategy, the state in which a kill in each step's
// transaction leaves the rotation ("": none, the start never committed).
var killStates = map[string][]string{
	backend.StrategyStopFirst: {"", backend.RotationPreparing, backend.RotationStopping, backend.RotationRegenerating, backend.RotationStarting},
	backend.StrategyOverlap:   {"", backend.RotationPreparing, backend.RotationIssuing, backend.RotationMoving, backend.RotationMoving},
}

func killAtStep(t *testing.T, spec, strategy string, step int) {
	svc, keyFile := openWithKey(t, spec, "")
	ctx := context.Background()
	k := must(svc.CreateAccount(ctx, backend.CreateAccountRequest{Name: "k", RotationStrategy: strategy}))(t)
	apps := []*backend.App{boundApp(t, svc, "forwarder", k), boundApp(t, svc, "second", k)}

	marker := filepath.Join(t.TempDir(), "in-transaction")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAtEachRotationStep$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKillStore+"="+spec, envKillKeyFile+"="+keyFile,
		envKillAccount+"="+k.ID, envKillMarker+"="+marker, envKillStep+"="+strconv.Itoa(step))
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
			t.Fatalf("the child never reached step %d of the rotation:\n%s", step, out)
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
	t.Logf("faults injected: 1 SIGKILL inside the transaction of step %d", step)

	rots := must(svc.ListRotations(ctx, backend.ListRotationsRequest{AccountID: k.ID}))(t)
	wantState := killStates[strategy][step]
	switch {
	case step == 0 && len(rots) != 0:
		t.Fatalf("a start that never committed left rotations: %+v", rots)
	case step > 0 && (len(rots) != 1 || rots[0].State != wantState):
		t.Fatalf("after the kill in step %d: rotations %+v, want one at state %s", step, rots, wantState)
	}
	// stop_first regenerates in step 3; overlap makes the pending secret
	// current in the transaction that moves the last app (step 4).
	if got := must(svc.GetAccount(ctx, k.ID))(t); got.SecretVersion != 1 && (step < 4 || strategy == backend.StrategyOverlap) {
		t.Errorf("after the kill in step %d: secret_version %d; the regeneration had not committed", step, got.SecretVersion)
	}

	// The retry of the same request: it waits out the dead driver's lease,
	// takes the rotation over and finishes it, once.
	r := must(svc.RegenerateSecret(ctx, killRequest(k.ID)))(t)
	if r.SecretVersion != 2 || r.Rotation == nil || r.Rotation.Outcome != backend.RotationDone || r.Rotation.Strategy != strategy ||
		r.PendingSecretVersion != 0 {
		t.Errorf("after the kill in step %d: result version %d (pending %d), rotation %+v", step, r.SecretVersion, r.PendingSecretVersion, r.Rotation)
	}
	regenerated := 0
	for _, ev := range must(svc.ListAuditEvents(ctx, backend.AuditQuery{}))(t) {
		if ev.Action == backend.ActionAccountRegenerate && ev.TargetID == k.ID {
			regenerated++
		}
	}
	if regenerated != 1 {
		t.Errorf("after the kill in step %d: %d regenerate events, want 1", step, regenerated)
	}
	for _, a := range apps {
		if got := must(svc.GetApp(ctx, a.ID))(t); !got.Deployed || got.Status != backend.StatusRunning || got.HeldBy != "" {
			t.Errorf("after the kill in step %d, %s: deployed %v, status %s, held by %q", step, got.Name, got.Deployed, got.Status, got.HeldBy)
		}
	}
	noErr(t, svc.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: r.Secret}))
	// The secret the rotation replaced logs in no more (revoked at once,
	// whichever strategy).
	wantCode(t, svc.Login(ctx, backend.LoginRequest{AccountID: k.ID, Secret: k.Secret}), backend.CodeLoginFailed)
}

// killRequest is the request the child makes and the parent retries.
func killRequest(id string) backend.RegenerateRequest {
	return backend.RegenerateRequest{ID: id, ExpectedSecretVersion: 1, IdempotencyKey: "apply-1"}
}

// rotateAndHang is the child: it drives a rotation over its own handle on
// the store and hangs inside the transaction of the given step (0: the
// start; then each step, whose transaction ends with its rotation.step or
// rotation.end event).
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
	step, _ := strconv.Atoi(os.Getenv(envKillStep))
	h := &hangingStore{Store: st, marker: os.Getenv(envKillMarker), at: step}
	svc := core.NewService(h, box, core.Options{RotationLease: killLease, Owner: "child"})
	_, err = svc.RegenerateSecret(ctx, killRequest(os.Getenv(envKillAccount)))
	t.Fatalf("the rotation returned (%v); it should have hung", err)
}

// hangingStore hangs the write transaction that appends the at-th rotation
// event (0: rotation.start), after writing the marker file.
type hangingStore struct {
	store.Store
	marker string
	at     int
	seen   atomic.Int32
}

func (h *hangingStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	return h.Store.Write(ctx, func(tx store.Tx) error { return fn(hangingTx{Tx: tx, h: h}) })
}

type hangingTx struct {
	store.Tx
	h *hangingStore
}

func (x hangingTx) AppendAudit(ctx context.Context, e store.AuditRow) (int64, error) {
	switch e.Action {
	case backend.ActionRotationStart, backend.ActionRotationStep, backend.ActionRotationEnd:
		if int(x.h.seen.Add(1))-1 == x.h.at {
			_ = os.WriteFile(x.h.marker, nil, 0o600)
			time.Sleep(time.Hour)
		}
	}
	return x.Tx.AppendAudit(ctx, e)
}
