package virtual_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/drivertest"
	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver/virtual"
)

func okLogin(context.Context, driver.Spec, driver.Secret) error { return nil }

func spec(_ *testing.T, name string) driver.Spec {
	return driver.Spec{Name: name, Secrets: []driver.Secret{{Name: "k", Value: "s3cret-value", AccountID: "acct-1"}}}
}

func TestContract(t *testing.T) {
	drivertest.Run(t, drivertest.Harness{
		New:  func(*testing.T) driver.Driver { return virtual.New(okLogin) },
		Spec: spec,
	})
}

// One login per bound secret at each Start and Reload; none for an unbound
// secret, none for a Start that keeps the app.
func TestLogsInOncePerBoundSecret(t *testing.T) {
	type call struct{ app, account, secret string }
	var (
		mu    sync.Mutex
		calls []call
	)
	d := virtual.New(func(_ context.Context, app driver.Spec, s driver.Secret) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{app.Name, s.AccountID, s.Value})
		return nil
	})
	defer func() { _ = d.Close(context.Background()) }()
	s := driver.Spec{Name: "app", Generation: 1, Secrets: []driver.Secret{
		{Name: "a", Value: "va", AccountID: "acct-a"},
		{Name: "b", Value: "vb", AccountID: "acct-b"},
		{Name: "opaque", Value: "vo"},
	}}
	ctx := t.Context()
	if err := d.Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, s); err != nil { // same generation: no login
		t.Fatal(err)
	}
	s.Generation, s.Secrets[0].Value = 2, "va2"
	if err := d.Reload(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := []call{{"app", "acct-a", "va"}, {"app", "acct-b", "vb"}, {"app", "acct-a", "va2"}, {"app", "acct-b", "vb"}}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != len(want) {
		t.Fatalf("logins %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("login %d = %v, want %v", i, calls[i], want[i])
		}
	}
}

// A failed login fails the app, says which account, and is not Start's error.
func TestFailedLoginFailsTheApp(t *testing.T) {
	d := virtual.New(func(context.Context, driver.Spec, driver.Secret) error {
		return errors.New("401 login_failed")
	})
	defer func() { _ = d.Close(context.Background()) }()
	s := spec(t, "app")
	s.Generation = 1
	if err := d.Start(t.Context(), s); err != nil {
		t.Fatalf("Start: %v (a failed login is a state)", err)
	}
	st, _ := d.State("app")
	if st.Phase != driver.PhaseFailed || !strings.Contains(st.Detail, "acct-1") || !strings.Contains(st.Detail, "401 login_failed") {
		t.Errorf("state %+v, want failed naming the account and the error", st)
	}
	if strings.Contains(st.Detail, "s3cret-value") {
		t.Errorf("detail shows the secret: %q", st.Detail)
	}
	// The next Start of the same generation tries again.
	if err := d.Start(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State("app"); st.Phase != driver.PhaseFailed {
		t.Errorf("second Start: %+v", st)
	}
}

// An app's start time is when its start began, before its logins: the
// server counts a login for an app's health only when it came after the
// start time its App Host reported.
func TestStartedBeforeItsLogins(t *testing.T) {
	var loggedIn time.Time
	d := virtual.New(func(context.Context, driver.Spec, driver.Secret) error {
		loggedIn = time.Now()
		return nil
	})
	defer func() { _ = d.Close(context.Background()) }()
	s := spec(t, "app")
	s.Generation = 1
	if err := d.Start(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	st, _ := d.State("app")
	if st.Phase != driver.PhaseRunning || st.StartedAt.IsZero() || st.StartedAt.After(loggedIn) {
		t.Errorf("state %+v: want running, started at or before its login at %s", st, loggedIn.Format(time.RFC3339Nano))
	}
}
