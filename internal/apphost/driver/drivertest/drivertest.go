// Package drivertest is the contract suite that every App Host driver
// passes: what the App Host may rely on whichever driver runs its apps.
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

// Harness gives the suite fresh drivers and specs.
type Harness struct {
	// New makes a fresh driver; the suite closes it.
	New func(t *testing.T) driver.Driver
	// Spec is a valid spec of an app named name that, started, runs until
	// it is stopped.
	Spec func(t *testing.T, name string) driver.Spec
}

// Timeout bounds every wait of the suite.
const Timeout = 20 * time.Second

// Run runs the contract suite.
func Run(t *testing.T, h Harness) {
	t.Run("StartRunsStopStops", func(t *testing.T) { testStartStop(t, h) })
	t.Run("StartSameGenerationKeepsTheApp", func(t *testing.T) { testSameGeneration(t, h) })
	t.Run("StartNewGenerationRestarts", func(t *testing.T) { testNewGeneration(t, h) })
	t.Run("ReloadTakesTheNewGeneration", func(t *testing.T) { testReload(t, h) })
	t.Run("CloseStopsEveryApp", func(t *testing.T) { testClose(t, h) })
	t.Run("InvalidSpecRefused", func(t *testing.T) { testInvalid(t, h) })
}

func newDriver(t *testing.T, h Harness) driver.Driver {
	d := h.New(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// WaitFor waits until app name's state satisfies ok and returns it; it fails
// t with the last state seen after Timeout.
func WaitFor(t testing.TB, d driver.Driver, name string, what string, ok func(driver.State) bool) driver.State {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	wait := time.Millisecond
	for {
		s, found := d.State(name)
		if found && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("app %q: not %s after %s; state: %+v (found %v)", name, what, Timeout, s, found)
		}
		time.Sleep(wait) // polling a state with a deadline
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// Running waits until app name runs with generation gen.
func Running(t testing.TB, d driver.Driver, name string, gen int64) driver.State {
	t.Helper()
	return WaitFor(t, d, name, fmt.Sprintf("running generation %d", gen), func(s driver.State) bool {
		return s.Phase == driver.PhaseRunning && s.Generation == gen
	})
}

func testStartStop(t *testing.T, h Harness) {
	d := newDriver(t, h)
	ctx := t.Context()
	spec := h.Spec(t, "app-a")
	spec.Generation = 1
	if err := d.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	s := Running(t, d, "app-a", 1)
	if s.StartedAt.IsZero() {
		t.Errorf("running state has no StartedAt: %+v", s)
	}
	if l := d.List(); len(l) != 1 || l[0].Name != "app-a" {
		t.Errorf("List = %+v, want app-a only", l)
	}
	if err := d.Stop(ctx, "app-a"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if s, _ := d.State("app-a"); s.Phase != driver.PhaseStopped || s.PID != 0 {
		t.Errorf("after Stop: %+v, want stopped with no PID", s)
	}
	if err := d.Stop(ctx, "app-a"); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := d.Stop(ctx, "never-started"); err != nil {
		t.Errorf("Stop of an unknown app: %v", err)
	}
	if _, ok := d.State("never-started"); ok {
		t.Errorf("Stop of an unknown app made it known")
	}
}

func testSameGeneration(t *testing.T, h Harness) {
	d := newDriver(t, h)
	ctx := t.Context()
	spec := h.Spec(t, "app-a")
	spec.Generation = 7
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	first := Running(t, d, "app-a", 7)
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	again, _ := d.State("app-a")
	if again.Phase != driver.PhaseRunning || again.PID != first.PID || !again.StartedAt.Equal(first.StartedAt) {
		t.Errorf("a Start with the same generation restarted the app: before %+v, after %+v", first, again)
	}
}

func testNewGeneration(t *testing.T, h Harness) {
	d := newDriver(t, h)
	ctx := t.Context()
	spec := h.Spec(t, "app-a")
	spec.Generation = 1
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	first := Running(t, d, "app-a", 1)
	spec.Generation = 2
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	second := Running(t, d, "app-a", 2)
	if second.StartedAt.Equal(first.StartedAt) || (first.PID != 0 && second.PID == first.PID) {
		t.Errorf("a Start with a new generation did not restart the app: before %+v, after %+v", first, second)
	}
}

func testReload(t *testing.T, h Harness) {
	d := newDriver(t, h)
	ctx := t.Context()
	spec := h.Spec(t, "app-a")
	spec.Generation = 1
	// Reload of an app that does not run starts it.
	if err := d.Reload(ctx, spec); err != nil {
		t.Fatal(err)
	}
	Running(t, d, "app-a", 1)
	spec.Generation = 2
	if err := d.Reload(ctx, spec); err != nil {
		t.Fatal(err)
	}
	Running(t, d, "app-a", 2)
}

func testClose(t *testing.T, h Harness) {
	d := h.New(t)
	ctx := t.Context()
	events := make(chan []driver.State, 1)
	go func() {
		var got []driver.State
		for s := range d.Events() {
			got = append(got, s)
		}
		events <- got
	}()
	for _, name := range []string{"app-a", "app-b"} {
		spec := h.Spec(t, name)
		spec.Generation = 1
		if err := d.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
		Running(t, d, name, 1)
	}
	cctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if err := d.Close(cctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, s := range d.List() {
		if s.Phase != driver.PhaseStopped {
			t.Errorf("after Close: %+v, want stopped", s)
		}
	}
	var got []driver.State
	select {
	case got = <-events:
	case <-time.After(Timeout):
		t.Fatal("Events was not closed after Close")
	}
	last := map[string]driver.State{}
	for _, s := range got {
		last[s.Name] = s
	}
	for _, name := range []string{"app-a", "app-b"} {
		if last[name].Phase != driver.PhaseStopped {
			t.Errorf("last event of %s: %+v, want stopped", name, last[name])
		}
	}
	spec := h.Spec(t, "app-c")
	if err := d.Start(ctx, spec); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if err := d.Reload(ctx, spec); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("Reload after Close: %v, want ErrClosed", err)
	}
}

func testInvalid(t *testing.T, h Harness) {
	d := newDriver(t, h)
	for _, name := range []string{"", "../escape", ".hidden", "a/b"} {
		spec := h.Spec(t, "app-a")
		spec.Name = name
		if err := d.Start(t.Context(), spec); err == nil {
			t.Errorf("Start of an app named %q: no error", name)
		}
	}
	if l := d.List(); len(l) != 0 {
		t.Errorf("refused specs left apps: %+v", l)
	}
}
