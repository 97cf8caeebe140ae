package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// testPaging: accounts and apps come a page at a time in name order, app
// secrets of a page of apps or accounts together, and the audit log newest
// first, filtered by target (an app secret's events go with its app) and
// action.
func testPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	var accts []store.AccountRow
	var apps []store.AppRow
	write(t, s, func(tx store.Tx) error {
		for i := range 7 {
			a := NewAccount(fmt.Sprintf("page-acct-%02d", 6-i)) // inserted out of order
			accts = append([]store.AccountRow{a}, accts...)
			if err := tx.InsertAccount(ctx, a); err != nil {
				return err
			}
			app := NewApp(fmt.Sprintf("page-app-%02d", 6-i))
			apps = append([]store.AppRow{app}, apps...)
			if err := tx.InsertApp(ctx, app); err != nil {
				return err
			}
		}
		for i, app := range apps {
			sec := store.AppSecretRow{AppID: app.ID, Name: "key", AccountID: accts[i].ID, UpdatedAt: now()}
			if err := tx.PutAppSecret(ctx, sec); err != nil {
				return err
			}
		}
		return nil
	})
	read(t, s, func(tx store.Tx) error {
		var gotNames []string
		after := ""
		for {
			page, err := tx.ListAccountsPage(ctx, after, 3)
			if err != nil {
				return err
			}
			if len(page) > 3 {
				t.Fatalf("ListAccountsPage returned %d rows, limit 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, a := range page {
				gotNames = append(gotNames, a.Name)
			}
			after = page[len(page)-1].Name
		}
		var want []string
		for _, a := range accts {
			want = append(want, a.Name)
		}
		equal(t, "account names over pages", gotNames, want)
		first, err := tx.ListAccountsPage(ctx, "", 1)
		if err != nil {
			return err
		}
		equal(t, "first account page", first, accts[:1])

		appPage, err := tx.ListAppsPage(ctx, apps[1].Name, 2)
		if err != nil {
			return err
		}
		equal(t, "apps after the second", appPage, apps[2:4])
		if _, err := tx.ListAppsPage(ctx, "", 0); err == nil {
			t.Error("ListAppsPage with limit 0 did not fail")
		}

		secs, err := tx.ListAppSecrets(ctx, store.AppSecretFilter{AppIDs: []string{apps[2].ID, apps[3].ID}})
		if err != nil {
			return err
		}
		if len(secs) != 2 || secs[0].AppID != apps[2].ID || secs[1].AppID != apps[3].ID {
			t.Errorf("secrets of two apps = %+v", secs)
		}
		secs, err = tx.ListAppSecrets(ctx, store.AppSecretFilter{AccountIDs: []string{accts[0].ID, accts[5].ID}})
		if err != nil {
			return err
		}
		if len(secs) != 2 || secs[0].AccountID != accts[0].ID || secs[1].AccountID != accts[5].ID {
			t.Errorf("secrets bound to two accounts = %+v", secs)
		}
		return nil
	})

	// Audit: 10 events over three targets; "app1/key" is a secret of app1,
	// "app10" is another app whose ID merely starts the same.
	targets := []string{"app1", "app1/key", "acct", "app10", "app1", "acct", "app1/key", "acct", "app1%", "app1"}
	var events []store.AuditRow
	write(t, s, func(tx store.Tx) error {
		for i, id := range targets {
			action := "app.deploy"
			if id == "acct" {
				action = "api_key_account.regenerate"
			}
			e := store.AuditRow{Time: now(), Actor: "admin", Action: action, TargetType: "x", TargetID: id,
				TargetName: id, Detail: fmt.Sprint(i)}
			seq, err := tx.AppendAudit(ctx, e)
			if err != nil {
				return err
			}
			e.Seq = seq
			events = append(events, e)
		}
		// A write transaction sees its own pending events.
		page, err := tx.ListAuditPage(ctx, store.AuditPage{Limit: 1})
		if err != nil {
			return err
		}
		equal(t, "newest event inside the writing transaction", page, events[len(events)-1:])
		return nil
	})
	pick := func(keep func(store.AuditRow) bool) []store.AuditRow {
		var out []store.AuditRow
		for i := len(events) - 1; i >= 0; i-- {
			if keep(events[i]) {
				out = append(out, events[i])
			}
		}
		return out
	}
	read(t, s, func(tx store.Tx) error {
		all, err := tx.ListAuditPage(ctx, store.AuditPage{Limit: 100})
		if err != nil {
			return err
		}
		equal(t, "whole log newest first", all, pick(func(store.AuditRow) bool { return true }))
		page, err := tx.ListAuditPage(ctx, store.AuditPage{BeforeSeq: events[5].Seq, Limit: 2})
		if err != nil {
			return err
		}
		equal(t, "two before the sixth", page, []store.AuditRow{events[4], events[3]})
		app1, err := tx.ListAuditPage(ctx, store.AuditPage{TargetID: "app1", Limit: 100})
		if err != nil {
			return err
		}
		equal(t, "events of app1 and its secrets", app1, pick(func(e store.AuditRow) bool {
			return e.TargetID == "app1" || e.TargetID == "app1/key"
		}))
		pct, err := tx.ListAuditPage(ctx, store.AuditPage{TargetID: "app1%", Limit: 100})
		if err != nil {
			return err
		}
		equal(t, "a target ID with a LIKE wildcard", pct, []store.AuditRow{events[8]})
		regen, err := tx.ListAuditPage(ctx, store.AuditPage{Action: "api_key_account.regenerate", BeforeSeq: events[7].Seq, Limit: 100})
		if err != nil {
			return err
		}
		equal(t, "regenerations before the eighth event", regen, []store.AuditRow{events[5], events[2]})
		if _, err := tx.ListAuditPage(ctx, store.AuditPage{}); err == nil {
			t.Error("ListAuditPage with limit 0 did not fail")
		}
		return nil
	})
}
