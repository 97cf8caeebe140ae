package core

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// A rotation refused at its prepare step names every App Host that cannot
// confirm the stop of its apps: the offline ones, and with them those that
// are online but have not acknowledged the rotation (frozen, say), so that
// one apply tells the admin about all of them, not one at a time.
func TestPrepareRefusalNamesEveryHostThatCannotConfirm(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	key := e.account(t, "siem")
	type hostApp struct{ session, appID, appName string }
	hosts := map[string]*hostApp{}
	for _, name := range []string{"east", "west"} {
		e.appHost(t, name)
		app, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: name + "-app", AppHost: name, Deployed: true,
			AppRuntime: backend.AppRuntime{Command: []string{"/bin/true"}}})
		if err != nil {
			t.Fatal(err)
		}
		e.put(t, app.ID, "siem", key.ID, nil)
		hosts[name] = &hostApp{session: e.openSession(t, name, "exec"), appID: app.ID, appName: app.Name}
	}
	report := func(name string) {
		t.Helper()
		h := hosts[name]
		d, err := e.s.AppHostDesired(ctx, name, h.session, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.ReportAppHost(ctx, name, hostapi.Report{SessionID: h.session, Revision: d.Revision,
			Apps: []hostapi.AppReport{{ID: h.appID, Name: h.appName, Generation: d.Apps[0].Generation, Phase: hostapi.PhaseRunning,
				PID: 42, StartedAt: e.clock.Now()}}}); err != nil {
			t.Fatal(err)
		}
	}
	report("east")
	report("west")
	// East goes silent past the offline delay; west keeps reporting, but
	// will not acknowledge the rotation (it is frozen when it starts).
	e.clock.Advance(DefaultAppHostOfflineAfter / 2)
	report("west")
	e.clock.Advance(DefaultAppHostOfflineAfter/2 + time.Second)

	_, err := e.s.RegenerateSecret(ctx, backend.RegenerateRequest{ID: key.ID})
	if !backend.IsRefused(err) {
		t.Fatalf("rotation with east offline and west silent: %v, want refused", err)
	}
	for _, want := range []string{"east (apps east-app)", "west (apps west-app)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %q: %v", want, err)
		}
	}
	if got := e.getAccount(t, key.ID).SecretVersion; got != 1 {
		t.Errorf("secret_version %d after the refusal, want 1", got)
	}
}
