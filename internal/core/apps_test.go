package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

func TestCreateAppDefaultsAndDeploy(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	a := e.app(t, "web", false)
	if a.AppHost != backend.DefaultAppHost || a.Status != backend.StatusStopped || a.Deployed || a.Config == nil || a.Secrets == nil {
		t.Errorf("app = %+v", a)
	}
	seq := e.lastSeq(t)
	b, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "api", AppHost: "east", Version: "1.2", Config: map[string]string{"k": "v"}, Deployed: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != backend.StatusRunning || !b.Deployed || b.Config["k"] != "v" {
		t.Errorf("deployed app = %+v", b)
	}
	e.wantActions(t, seq, "terraform app.create api", "terraform app.deploy api")
	got := e.getApp(t, b.ID)
	if fmt.Sprint(*got) != fmt.Sprint(*b) {
		t.Errorf("GetApp = %+v\nwant %+v", *got, *b)
	}
	byName, err := e.s.GetAppByName(ctx, "api")
	if err != nil || byName.ID != b.ID {
		t.Errorf("GetAppByName = %v, %v", byName, err)
	}
	_, err = e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "api"})
	wantCode(t, err, backend.CodeConflict)
	if !strings.Contains(err.Error(), `"api"`) {
		t.Errorf("message = %q", err)
	}
}

func TestAppValidation(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	big := map[string]string{}
	for i := range backend.MaxConfigEntries + 1 {
		big[fmt.Sprint(i)] = "v"
	}
	for _, tc := range []struct {
		req   backend.CreateAppRequest
		field string
	}{
		{backend.CreateAppRequest{Name: ""}, "name"},
		{backend.CreateAppRequest{Name: "a/b"}, "name"},
		{backend.CreateAppRequest{Name: "a", AppHost: "bad host"}, "app_host"},
		{backend.CreateAppRequest{Name: "a", Version: "1\n2"}, "version"},
		{backend.CreateAppRequest{Name: "a", Config: big}, "config"},
		{backend.CreateAppRequest{Name: "a", Config: map[string]string{"": "v"}}, "config"},
		{backend.CreateAppRequest{Name: "a", Config: map[string]string{"k": strings.Repeat("v", backend.MaxConfigValueLength+1)}}, "config"},
	} {
		_, err := e.s.CreateApp(ctx, tc.req)
		wantCode(t, err, backend.CodeInvalid)
		var be *backend.Error
		if asError(err, &be); be.Field != tc.field {
			t.Errorf("%+v: field = %q, want %q (%v)", tc.req.Name, be.Field, tc.field, err)
		}
	}
	app := e.app(t, "ok", false)
	acc := e.account(t, "k")
	for _, v := range []string{"", strings.Repeat("x", backend.MaxSecretValueLength+1)} {
		_, err := e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "s", AccountID: acc.ID, Value: ptr(v)})
		wantCode(t, err, backend.CodeInvalid)
		if strings.Contains(err.Error(), "xxxxxxxx") {
			t.Error("error echoes the value")
		}
	}
	_, err := e.s.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "no spaces", Value: ptr("value-123456")})
	wantCode(t, err, backend.CodeInvalid)
	if n := len(e.events(t)); n != 2 {
		t.Errorf("%d events, want 2 (the two creates)", n)
	}
}

func TestUpdateAppWhileRunning(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	seq := e.lastSeq(t)
	got, err := e.s.UpdateApp(ctx, backend.UpdateAppRequest{ID: app.ID, Name: "forwarder", Version: "2", Deployed: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"terraform app.undeploy forwarder",
		"terraform app.update forwarder",
		"terraform app.deploy forwarder",
		"forwarder login.success siem-forwarder",
	}
	e.wantActions(t, seq, want...)
	if got.Version != "2" || got.Status != backend.StatusRunning || got.AppHost != backend.DefaultAppHost || len(got.Secrets) != 1 {
		t.Errorf("updated = %+v", got)
	}

	// No change: nothing happens.
	seq = e.lastSeq(t)
	if _, err := e.s.UpdateApp(ctx, backend.UpdateAppRequest{ID: app.ID, Name: "forwarder", Version: "2", Deployed: true}); err != nil {
		t.Fatal(err)
	}
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("no-op update = %q", acts)
	}

	// Rename and undeploy at once: one undeploy, then the update.
	got, err = e.s.UpdateApp(ctx, backend.UpdateAppRequest{ID: app.ID, Name: "fwd", Version: "2"})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"terraform app.undeploy forwarder", "terraform app.update fwd"}
	e.wantActions(t, seq, want...)
	if got.Deployed || got.Status != backend.StatusStopped {
		t.Errorf("updated = %+v", got)
	}
	if a := e.getAccount(t, acc.ID); !slices.Equal(a.Apps, []string{"fwd"}) {
		t.Errorf("account apps = %q", a.Apps)
	}
	sec, err := e.s.GetAppSecret(ctx, app.ID, "siem-forwarder")
	if err != nil || sec.AppName != "fwd" {
		t.Errorf("secret after rename = %+v, %v", sec, err)
	}

	// Deployed flips deploy.
	seq = e.lastSeq(t)
	if _, err := e.s.UpdateApp(ctx, backend.UpdateAppRequest{ID: app.ID, Name: "fwd", Version: "2", Deployed: true}); err != nil {
		t.Fatal(err)
	}
	e.wantActions(t, seq, "terraform app.deploy fwd", "fwd login.success siem-forwarder")

	other := e.app(t, "other", false)
	_, err = e.s.UpdateApp(ctx, backend.UpdateAppRequest{ID: other.ID, Name: "fwd"})
	wantCode(t, err, backend.CodeConflict)
}

func TestDeployUndeployApp(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	_, app := deployedWithSecret(t, e)
	seq := e.lastSeq(t)
	if _, err := e.s.DeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("deploying a running app = %q", acts)
	}
	got, err := e.s.UndeployApp(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Deployed || got.Status != backend.StatusStopped {
		t.Errorf("undeployed = %+v", got)
	}
	if _, err := e.s.UndeployApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	e.wantActions(t, seq, "terraform app.undeploy forwarder")
}

func TestListAppsFilters(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, _ := deployedWithSecret(t, e)
	if _, err := e.s.CreateApp(ctx, backend.CreateAppRequest{Name: "east-app", AppHost: "east"}); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	for _, tc := range []struct {
		req  backend.ListAppsRequest
		want []string
	}{
		{backend.ListAppsRequest{}, []string{"east-app", "forwarder"}},
		{backend.ListAppsRequest{BoundToAccountID: acc.ID}, []string{"forwarder"}},
		{backend.ListAppsRequest{Running: &yes}, []string{"forwarder"}},
		{backend.ListAppsRequest{Deployed: &no}, []string{"east-app"}},
		{backend.ListAppsRequest{AppHost: "east"}, []string{"east-app"}},
	} {
		apps, err := e.s.ListApps(ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range apps {
			names = append(names, a.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.req, names, tc.want)
		}
	}
}

func TestDeleteApp(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	e.put(t, app.ID, "extra", "", ptr("unbound-value-123"))
	seq := e.lastSeq(t)
	if err := e.s.DeleteApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"terraform app.undeploy forwarder",
		"terraform app_secret.delete forwarder/extra",
		"terraform app_secret.delete forwarder/siem-forwarder",
		"terraform app.delete forwarder",
	}
	e.wantActions(t, seq, want...)
	_, err := e.s.GetApp(ctx, app.ID)
	wantCode(t, err, backend.CodeNotFound)
	if a := e.getAccount(t, acc.ID); len(a.Apps) != 0 {
		t.Errorf("account apps = %q", a.Apps)
	}
	ev := e.events(t)
	for _, x := range ev {
		if x.Action == backend.ActionAppSecretDelete && (x.TargetType != backend.TargetAppSecret || x.TargetID != app.ID+"/extra" && x.TargetID != app.ID+"/siem-forwarder") {
			t.Errorf("secret event target = %+v", x)
		}
		if x.Action == backend.ActionAppDelete && (x.TargetType != backend.TargetApp || x.TargetID != app.ID) {
			t.Errorf("app event target = %+v", x)
		}
	}
}

func TestDeleteAccountRefusedWhileBound(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	acc, app := deployedWithSecret(t, e)
	idle := e.app(t, "idle", false)
	e.put(t, idle.ID, "k", acc.ID, nil)
	seq := e.lastSeq(t)
	err := e.s.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: acc.ID})
	wantCode(t, err, backend.CodeInUse)
	var be *backend.Error
	if !errors.As(err, &be) || !slices.Equal(be.Apps, []string{"forwarder", "idle"}) {
		t.Errorf("apps = %q, want every bound app, running or not", be.Apps)
	}
	if acts := e.actionsSince(t, seq); len(acts) != 0 {
		t.Errorf("refusal changed something: %q", acts)
	}
	for _, id := range []string{app.ID, idle.ID} {
		if err := e.s.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: id, Name: map[string]string{app.ID: "siem-forwarder", idle.ID: "k"}[id]}); err != nil {
			t.Fatal(err)
		}
	}
	seq = e.lastSeq(t)
	if err := e.s.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: acc.ID}); err != nil {
		t.Fatal(err)
	}
	e.wantActions(t, seq, "terraform api_key_account.delete siem-forwarder")
	_, err = e.s.GetAccount(ctx, acc.ID)
	wantCode(t, err, backend.CodeNotFound)
}

func TestAuditPaging(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	for i := range 5 {
		e.account(t, fmt.Sprintf("a%d", i))
	}
	ev, err := e.s.ListAuditEvents(ctx, backend.AuditQuery{AfterSeq: 2, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 2 || ev[0].Seq != 3 || ev[1].Seq != 4 || ev[0].TargetName != "a2" {
		t.Errorf("page = %+v", ev)
	}
	_, err = e.s.ListAuditEvents(ctx, backend.AuditQuery{Limit: -1})
	wantCode(t, err, backend.CodeInvalid)
}
