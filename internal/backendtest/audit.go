package backendtest

import (
	"context"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// EventsAfter returns b's audit events after seq, oldest first.
func EventsAfter(t testing.TB, b backend.Backend, after int64) []backend.AuditEvent {
	t.Helper()
	ev, err := b.ListAuditEvents(context.Background(), backend.AuditQuery{AfterSeq: after})
	if err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	return ev
}

// LastSeq is the sequence number of b's newest audit event, 0 for none.
func LastSeq(t testing.TB, b backend.Backend) int64 {
	t.Helper()
	ev := EventsAfter(t, b, 0)
	if len(ev) == 0 {
		return 0
	}
	return ev[len(ev)-1].Seq
}

// Count returns how many of evs are of action.
func Count(evs []backend.AuditEvent, action string) int {
	n := 0
	for _, e := range evs {
		if e.Action == action {
			n++
		}
	}
	return n
}
