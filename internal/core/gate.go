package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// LoginGate decides, at the moment a login has been checked, whether its
// outcome stands (ok: the right secret of an account that may log in). A
// gate that answers false has the outcome discarded: nothing is audited or
// counted, and the login fails with CodeRateLimited. The server's failed-
// login throttle is one: a guess counts when it is checked, in the order of
// the checks, so concurrent guesses cannot get past its burst.
//
// A gate may be called more than once for one login (a group commit that
// failed runs its logins again); it must answer the same each time.
type LoginGate func(ok bool) bool

type gateKey struct{}

// WithLoginGate returns a context whose network logins (NetworkLogin,
// AuthenticateAdmin) consult gate before their outcome is recorded.
func WithLoginGate(ctx context.Context, gate LoginGate) context.Context {
	return context.WithValue(ctx, gateKey{}, gate)
}

func gateFrom(ctx context.Context) LoginGate {
	g, _ := ctx.Value(gateKey{}).(LoginGate)
	return g
}

// errThrottled is the answer to a login whose outcome its gate discarded.
func errThrottled() *backend.Error {
	return backend.Errorf(backend.CodeRateLimited, "too many failed logins from this address at this API key account; this attempt was not answered")
}

// unknownLoginWindow is how often a failed network login for an ID that no
// account has is audited on its own: the others of the window are counted
// and summed up in the next one's detail, so that a flood of logins with
// made-up IDs writes a row a minute, not a row a login.
const unknownLoginWindow = time.Minute

// unknownTarget is the audit target ID of a login whose "ID" is not shaped
// like an account ID: its text is never recorded (it may be a secret pasted
// in the wrong field).
const unknownTarget = "(not an API key ID)"

// unknownLogins aggregates the audit of failed network logins for unknown
// IDs, per actor.
type unknownLogins struct {
	mu      sync.Mutex
	byActor map[string]*unknownWindow
}

type unknownWindow struct {
	start time.Time // when the row that opened the window was written
	more  int       // failures since, not audited one by one
}

// maxUnknownActors bounds byActor; network logins have a handful of actors.
const maxUnknownActors = 64

// note records one failed network login for an unknown ID by actor at now.
// It returns the detail to audit it with and true when it opens a window;
// false means it was only counted.
func (u *unknownLogins) note(actor string, now time.Time) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byActor == nil {
		u.byActor = map[string]*unknownWindow{}
	}
	w := u.byActor[actor]
	if w != nil && now.Sub(w.start) < unknownLoginWindow && now.Sub(w.start) >= 0 {
		w.more++
		return "", false
	}
	detail := "unknown API key ID, not counted (network login)"
	if w != nil && w.more > 0 {
		detail += "; " + summary(w.more, w.start, now)
	}
	if w == nil && len(u.byActor) >= maxUnknownActors {
		clear(u.byActor)
	}
	u.byActor[actor] = &unknownWindow{start: now}
	return detail, true
}

// drain returns, per actor, the failures counted and not yet audited, and
// forgets them.
func (u *unknownLogins) drain(now time.Time) map[string]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]string{}
	for actor, w := range u.byActor {
		if w.more > 0 {
			out[actor] = summary(w.more, w.start, now)
		}
	}
	clear(u.byActor)
	return out
}

func summary(n int, from, to time.Time) string {
	return fmt.Sprintf("%d more failed logins for unknown API key IDs from %s to %s, not audited one by one",
		n, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
}
