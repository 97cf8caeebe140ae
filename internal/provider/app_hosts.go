package provider

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// appHostList is the backend's App Hosts, listed once per run (at the
// first plan that asks) for the plan's warnings about apps' App Hosts: one
// call however many apps the configuration has.
type appHostList struct {
	b      backend.Backend
	once   sync.Once
	byName map[string]backend.AppHost
	err    error
}

func newAppHostList(b backend.Backend) *appHostList { return &appHostList{b: b} }

// get returns the App Host name as the backend listed it; false when it is
// not listed (a name no App Host account claims and no app uses yet: the
// built-in App Host's).
func (l *appHostList) get(ctx context.Context, name string) (backend.AppHost, bool, error) {
	l.once.Do(func() {
		var hosts []backend.AppHost
		hosts, l.err = l.b.ListAppHosts(ctx)
		l.byName = make(map[string]backend.AppHost, len(hosts))
		for _, h := range hosts {
			l.byName[h.Name] = h
		}
	})
	h, ok := l.byName[name]
	return h, ok, l.err
}

// quoted writes names as "a", "b".
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// realNames returns the names of the real App Hosts, once listed.
func (l *appHostList) realNames() []string {
	var out []string
	for name, h := range l.byName {
		if !h.BuiltIn {
			out = append(out, name)
		}
	}
	return out
}

// warnAppHost warns, on app_host, when the App Host of the app is a real
// one that has never connected (its apps wait, pending: a typo in the App
// Host's name shows here at once) or that is offline, and when it is the
// built-in one under a name close to a real App Host's (a typo in
// app_host). The summary names the app, so that Terraform does not fold the
// warnings of several apps into one.
func warnAppHost(ctx context.Context, diags *diag.Diagnostics, hosts *appHostList, app, host string) {
	if hosts == nil {
		return
	}
	h, ok, err := hosts.get(ctx, host)
	if err != nil {
		tflog.Debug(ctx, "Could not list the App Hosts", map[string]any{"error": err.Error()})
		return
	}
	if !ok || h.BuiltIn {
		if near := nearMatches(host, hosts.realNames()); len(near) > 0 {
			diags.AddAttributeWarning(path.Root("app_host"), fmt.Sprintf("App %q: App Host %q is the built-in one", app, host),
				fmt.Sprintf("No App Host account claims %q, so the backend's built-in App Host serves the app %q: it runs "+
					"no process. Did you mean %s (a real App Host)? If so, correct app_host.", host, app, quoted(near)))
		}
		return
	}
	switch h.State {
	case backend.AppHostUnknown:
		diags.AddAttributeWarning(path.Root("app_host"), fmt.Sprintf("App %q: App Host %q has never connected", app, host),
			fmt.Sprintf("The app %q runs on App Host %q, which an App Host account claims (an apphost_api_key_account "+
				"with app_host = %q), but no App Host of that name has ever connected. Until one does, the app is "+
				"pending: it is not started, and the apply does not wait for it. Check app_host for a typo, or start "+
				"the App Host: terraform-provider-apphost host --name %s.", app, host, host, host))
	case backend.AppHostOffline:
		last := "never"
		if h.LastReport != nil {
			last = formatTime(*h.LastReport)
		}
		diags.AddAttributeWarning(path.Root("app_host"), fmt.Sprintf("App %q: App Host %q is offline", app, host),
			fmt.Sprintf("The app %q runs on App Host %q, which is offline (last report %s). A change to the app reaches "+
				"it only when the App Host reports again: the apply waits up to the app's start_timeout for it to "+
				"run, then reports it as failed. Bring the App Host back; if its machine is lost, declare it lost "+
				"with terraform-provider-apphost app-hosts forget %s.", app, host, last, host))
	}
}
