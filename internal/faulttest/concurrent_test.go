package faulttest

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestConcurrentAppliesOneStore runs two terraform applies at once on the
// same embedded store, from two working directories that each manage their
// own keys and apps (20 resources each): first the creates, then a rotation
// of every key in both. Each apply must succeed, or fail cleanly (a busy
// store) and succeed when run again; the store is never corrupted and every
// object exists exactly once.
func TestConcurrentAppliesOneStore(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	const keysPer, appsPerKey = 4, 2 // 4 keys + 8 apps + 8 app secrets = 20 resources per directory
	root := t.TempDir()
	db := filepath.Join(root, "shared", "apphost.db")
	dirs := map[string]*tfDir{}
	want := map[string][]string{} // key name -> its apps, both directories
	for _, prefix := range []string{"a", "b"} {
		dirs[prefix] = newTFDir(t, filepath.Join(root, prefix))
		for _, k := range keyNames(prefix, keysPer) {
			want[k] = appNames(k, appsPerKey)
		}
	}

	busyFailures := 0
	both := func(trigger string) {
		t.Helper()
		runs := map[string]tfRun{}
		for _, prefix := range []string{"a", "b"} {
			dirs[prefix].write(config(embeddedProvider(db), prefix, keysPer, appsPerKey, trigger))
		}
		for _, prefix := range []string{"a", "b"} {
			runs[prefix] = dirs[prefix].startApply()
		}
		for _, prefix := range []string{"a", "b"} {
			res := runs[prefix].wait()
			t.Logf("%s: %s", prefix, res)
			if res.Code == 0 {
				continue
			}
			// A clean failure says the store was busy; then a second run converges.
			if !strings.Contains(res.Output(), "busy") && !strings.Contains(res.Output(), "locked by another writer") {
				t.Fatalf("%s: the concurrent apply failed, and not cleanly on a busy store:\n%s", prefix, res.Output())
			}
			busyFailures++
			t.Logf("%s: failed cleanly on a busy store (%s); applying again", prefix, strings.Join(res.ErrorLines(), " | "))
			dirs[prefix].mustApply()
		}
	}

	both("1")
	integrityCheck(t, db)
	svc := openStore(t, db)
	mark := backendtest.LastSeq(t, svc)
	requireExactlyOnce(t, svc, want)

	both("2")
	integrityCheck(t, db)
	requireExactlyOnce(t, svc, want)
	ev := backendtest.EventsAfter(t, svc, mark)
	if n := backendtest.Count(ev, backend.ActionAccountRegenerate); n != len(want) {
		t.Errorf("%d regenerate events in the concurrent rotations, want %d:\n%s", n, len(want), auditLog(ev))
	}
	for _, prefix := range []string{"a", "b"} {
		st := dirs[prefix].state()
		keys := map[string][]string{}
		for _, k := range keyNames(prefix, keysPer) {
			keys[k] = want[k]
			if ks, _ := st.key(k); ks.Version != 2 {
				t.Errorf("key %s: secret_version %d in state after one rotation, want 2", k, ks.Version)
			}
		}
		requireConverged(t, svc, st, mark, keys)
	}
	all := backendtest.EventsAfter(t, svc, 0)
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Errorf("audit event %d has seq %d: the sequence has a gap or a duplicate", i+1, e.Seq)
			break
		}
	}
	t.Logf("two applies at once, twice (create, rotate): %d audit events, contiguous; %d clean busy failures",
		len(all), busyFailures)

	// Both plans at once: empty.
	pa, pb := dirs["a"].start("plan", "-detailed-exitcode", "-input=false"), dirs["b"].start("plan", "-detailed-exitcode", "-input=false")
	for _, r := range []tfRun{pa, pb} {
		res := r.wait()
		t.Log(res)
		if res.Code != 0 {
			t.Errorf("the plan after the concurrent applies is not empty:\n%s", res.Output())
		}
	}
	integrityCheck(t, db)
}

// requireExactlyOnce checks that the store holds exactly the keys of want
// and their apps, each once, each app with exactly one secret bound to its
// key.
func requireExactlyOnce(t *testing.T, b backend.Backend, want map[string][]string) {
	t.Helper()
	ctx := context.Background()
	accts, err := b.ListAccounts(ctx, backend.ListAccountsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	apps, err := b.ListApps(ctx, backend.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var gotKeys, wantKeys, gotApps, wantApps []string
	keyID := map[string]string{}
	for _, a := range accts {
		gotKeys = append(gotKeys, a.Name)
		keyID[a.Name] = a.ID
	}
	for k, as := range want {
		wantKeys = append(wantKeys, k)
		wantApps = append(wantApps, as...)
	}
	for _, a := range apps {
		gotApps = append(gotApps, a.Name)
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	slices.Sort(gotApps)
	slices.Sort(wantApps)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("accounts in the store: %v, want %v", gotKeys, wantKeys)
	}
	if !slices.Equal(gotApps, wantApps) {
		t.Errorf("apps in the store: %v, want %v", gotApps, wantApps)
	}
	for k, as := range want {
		for _, name := range as {
			i := slices.IndexFunc(apps, func(a backend.App) bool { return a.Name == name })
			if i < 0 {
				continue
			}
			if s := apps[i].Secrets; len(s) != 1 || s[0].AccountID != keyID[k] || !s[0].HasValue {
				t.Errorf("app %s: secrets %+v, want one bound to %s", name, s, k)
			}
		}
	}
}
