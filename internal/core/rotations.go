package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// A rotation is a durable object in the store, carried from step to step by
// one driver at a time. Each step is one write transaction that first
// checks that the caller still owns the rotation (a compare-and-set on its
// owner and lease) and renews the lease; an owner that dies leaves the
// rotation where its last step left it, and whoever writes to the account
// after the lease expired (an apply, or a server's sweeper) takes it over
// and carries it on from there. So a rotation is finished or undone, never
// repeated and never left half-done.
//
// stop_first, the hand procedure's order:
//
//	preparing     hold every app bound to the key; their App Hosts must answer
//	stopping      stop the deployed ones
//	regenerating  regenerate and seal into every bound app secret (one transaction)
//	starting      start them with the new secret
//	-> done | done_with_failures
//
// A refusal before the regeneration restarts what was stopped (restoring)
// and ends refused: nothing regenerated.

// DefaultRotationLease is how long a rotation's owner may go silent before
// another driver may take the rotation over.
const DefaultRotationLease = 15 * time.Second

// errNotOwner: another driver owns the rotation under a lease that has not
// expired.
type errNotOwner struct{ owner string }

func (e errNotOwner) Error() string { return "the rotation is driven by " + e.owner }

// errBusy: the account, or an app bound to it, is held by another active
// rotation; the caller waits for it to end (or takes it over) and retries.
type errBusy struct{ rotationID string }

func (e errBusy) Error() string { return "held by rotation " + e.rotationID }

// requestHash identifies what a regenerate asks for, so that an
// Idempotency-Key reused for another request is refused, not replayed.
func requestHash(req backend.RegenerateRequest) string {
	expose := "-"
	if req.ExposeSecret != nil {
		expose = fmt.Sprint(*req.ExposeSecret)
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s\x00%s", req.ID, req.ExpectedSecretVersion, expose, req.TriggersHash)))
	return hex.EncodeToString(sum[:])
}

func validateRegenerate(req backend.RegenerateRequest) error {
	if err := validateID("id", req.ID); err != nil {
		return err
	}
	if err := validateText("idempotency_key", req.IdempotencyKey, backend.MaxNameLength); err != nil {
		return err
	}
	if err := validateText("reason", req.Reason, backend.MaxDescriptionLength); err != nil {
		return err
	}
	if req.TriggersHash != "" {
		if b, err := hex.DecodeString(req.TriggersHash); err != nil || len(b) != sha256.Size {
			return backend.InvalidField("triggers_hash", "triggers_hash must be a SHA-256 in hex (64 characters)")
		}
	}
	if req.ExpectedSecretVersion < 0 {
		return backend.InvalidField("expected_secret_version", "expected_secret_version must not be negative")
	}
	return nil
}

// RegenerateSecret rotates the account's secret: it starts a rotation and
// drives it to its end (see the top of this file), or, for a retry with the
// same Idempotency-Key, returns the first request's result. A rotation that
// ends refused returns a CodeRefused error and changes nothing; one that ends
// with failures returns the account with its new secret and the rotation,
// whose steps name the apps that failed.
func (s *Service) RegenerateSecret(ctx context.Context, req backend.RegenerateRequest) (*backend.AccountWithSecret, error) {
	r, err := s.StartRotation(ctx, req)
	if err != nil {
		return nil, err
	}
	if !r.Ended() {
		// The rotation goes on if the caller stops waiting: its lease lapses
		// only if this process dies.
		done := make(chan error, 1)
		go func() { done <- s.DriveRotation(context.WithoutCancel(ctx), r.ID) }()
		select {
		case err := <-done:
			if err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, interrupted(r.ID, r.AccountName)
		}
	}
	return s.rotationResult(ctx, r.ID, req.IdempotencyKey, true)
}

func interrupted(id, account string) *backend.Error {
	return backend.Errorf(backend.CodeInterrupted, "stopped waiting for rotation %s of API key account %q: the rotation "+
		"goes on in the backend (or, if this process ends, is taken over by the next apply), and the next apply reports "+
		"its outcome", id, account)
}

// StartRotation records a new rotation of the account and holds its apps,
// or returns the rotation an earlier request with the same Idempotency-Key
// started. It waits for another active rotation of the account or of its
// apps to end first (taking it over if its owner's lease expired).
func (s *Service) StartRotation(ctx context.Context, req backend.RegenerateRequest) (*backend.Rotation, error) {
	if err := validateRegenerate(req); err != nil {
		return nil, err
	}
	for {
		var out *backend.Rotation
		err := s.write(ctx, func(o *op) error {
			r, err := o.startRotation(req)
			if err != nil {
				return err
			}
			x := toRotation(r)
			out = &x
			return nil
		})
		var busy errBusy
		if errors.As(err, &busy) {
			if err := s.awaitRotation(ctx, busy.rotationID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

func (o *op) startRotation(req backend.RegenerateRequest) (store.RotationRow, error) {
	acc, err := o.getAccount(req.ID)
	if err != nil {
		return store.RotationRow{}, err
	}
	if err := o.tx.ForgetRotationResultsBefore(o.ctx, o.now.Add(-backend.IdempotencyWindow)); err != nil {
		return store.RotationRow{}, err
	}
	hash := requestHash(req)
	if req.IdempotencyKey != "" {
		prev, err := o.tx.ListRotations(o.ctx, store.RotationFilter{AccountID: acc.ID, IdempotencyKey: req.IdempotencyKey, Limit: 1})
		if err != nil {
			return store.RotationRow{}, err
		}
		// A key is remembered for IdempotencyWindow, as its result is.
		if len(prev) == 1 && prev[0].CreatedAt.After(o.now.Add(-backend.IdempotencyWindow)) {
			p := prev[0]
			if p.RequestHash != hash {
				return store.RotationRow{}, backend.Errorf(backend.CodeIdempotencyMismatch,
					"the Idempotency-Key %q was already used for another regenerate request of API key account %q; "+
						"nothing was changed. Use a new key for a new request", req.IdempotencyKey, acc.Name)
			}
			// A retry: the same rotation, still running or with its result.
			// One that ended without regenerating may be asked again.
			if p.Outcome == "" || p.ToVersion != 0 {
				return p, nil
			}
		}
	}
	active, err := o.tx.ListRotations(o.ctx, store.RotationFilter{AccountID: acc.ID, ActiveOnly: true, Limit: 1})
	if err != nil {
		return store.RotationRow{}, err
	}
	if len(active) > 0 {
		return store.RotationRow{}, errBusy{active[0].ID}
	}
	if req.ExpectedSecretVersion != 0 && req.ExpectedSecretVersion != acc.SecretVersion {
		return store.RotationRow{}, backend.Errorf(backend.CodeVersionMismatch,
			"the secret of API key account %q is at secret_version %d, not %d as this request expected: it was "+
				"regenerated since the plan was made. Nothing was changed; plan again",
			acc.Name, acc.SecretVersion, req.ExpectedSecretVersion)
	}
	if acc.Admin && req.ExposeSecret != nil && !*req.ExposeSecret {
		// Nobody would hold the new secret: as good as a deletion.
		if err := o.refuseLastAdmin(acc, "regenerated with expose_secret = false (nobody would hold its new secret)",
			"regenerate it with expose_secret = true"); err != nil {
			return store.RotationRow{}, err
		}
	}
	apps, err := o.tx.ListAppsBoundTo(o.ctx, acc.ID)
	if err != nil {
		return store.RotationRow{}, err
	}
	for _, a := range apps {
		if a.HeldBy != "" {
			return store.RotationRow{}, errBusy{a.HeldBy}
		}
	}
	// The steps, and so the order in which an overlap rotation moves the
	// apps (the first is its canary), are in app name order, byte by byte:
	// the order the plan announces, whatever the store's collation.
	slices.SortFunc(apps, func(a, b store.AppRow) int { return strings.Compare(a.Name, b.Name) })
	strategy, fallback := strategyOf(acc), overlapFallback(acc)
	if fallback != "" {
		strategy = backend.StrategyStopFirst
	}
	r := store.RotationRow{
		ID:             uuid.NewString(),
		AccountID:      acc.ID,
		AccountName:    acc.Name,
		Strategy:       strategy,
		Reason:         req.Reason,
		TriggersHash:   req.TriggersHash,
		IdempotencyKey: req.IdempotencyKey,
		RequestHash:    hash,
		ExposeSecret:   req.ExposeSecret,
		FromVersion:    acc.SecretVersion,
		State:          backend.RotationPreparing,
		Owner:          o.s.owner,
		LeaseUntil:     o.now.Add(o.s.lease),
		Rev:            1,
		CreatedAt:      o.now,
		UpdatedAt:      o.now,
	}
	acks := map[string]int64{} // per real App Host: the revision it must acknowledge
	for i := range apps {
		a := &apps[i]
		phase := backend.StepHeld
		if !a.Deployed {
			phase = backend.StepSkipped
		}
		a.HeldBy = r.ID
		if err := o.tx.UpdateApp(o.ctx, *a); err != nil {
			return store.RotationRow{}, err
		}
		if _, ok := acks[a.AppHost]; !ok && a.Deployed {
			if acks[a.AppHost], err = o.bumpHost(a.AppHost); err != nil {
				return store.RotationRow{}, err
			}
		}
		r.Steps = append(r.Steps, store.RotationStepRow{AppID: a.ID, AppName: a.Name, AppHost: a.AppHost, Phase: phase,
			AckRevision: acks[a.AppHost]})
	}
	if err := o.tx.InsertRotation(o.ctx, r); err != nil {
		return store.RotationRow{}, err
	}
	detail := fmt.Sprintf("strategy=%s, api_key_account=%s, from secret_version=%d, apps=%d", r.Strategy, acc.Name, r.FromVersion, len(apps))
	if r.Reason != "" {
		detail += ", reason=" + r.Reason
	}
	if fallback != "" {
		detail += ", stop_first instead of its rotation_strategy overlap: " + fallback
	}
	return r, o.audit(backend.ActionRotationStart, backend.TargetRotation, r.ID, acc.Name, detail)
}

// DriveRotation carries the rotation through its remaining steps and
// returns when it ended. While another driver owns it under a lease, it
// waits, and takes it over if that lease expires.
func (s *Service) DriveRotation(ctx context.Context, id string) error {
	for wait := time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		r, err := s.peekRotation(ctx, id)
		if err != nil || r.Outcome != "" {
			return err
		}
		mine := r.Owner == s.owner || !s.now().Before(r.LeaseUntil)
		if mine && s.driving.claim(id) {
			ended, err := s.driveSteps(ctx, id)
			s.driving.release(id)
			if err != nil || ended {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return interrupted(id, r.AccountName)
		case <-time.After(wait):
		}
	}
}

func (s *Service) peekRotation(ctx context.Context, id string) (store.RotationRow, error) {
	var r store.RotationRow
	err := s.read(ctx, func(o *op) error {
		var err error
		r, err = o.tx.GetRotation(o.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return backend.Errorf(backend.CodeNotFound, "rotation %q not found", id)
		}
		return err
	})
	return r, err
}

// driveSteps runs the rotation's steps, one transaction each, until it
// ended (true) or another driver owns it (false).
func (s *Service) driveSteps(ctx context.Context, id string) (bool, error) {
	for {
		token := s.changeToken(ctx)
		var ended bool
		var wake time.Time
		err := s.write(ctx, func(o *op) error {
			r, err := o.ownRotation(id)
			if err != nil {
				return err
			}
			if r.Outcome != "" {
				ended = true
				return nil
			}
			if wake, err = o.rotationStep(&r); err != nil {
				return err
			}
			r.Rev++
			r.UpdatedAt = o.now
			ended = r.Outcome != ""
			return o.tx.UpdateRotation(o.ctx, r)
		})
		var notOwner errNotOwner
		if errors.As(err, &notOwner) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if ended {
			if s.afterStep != nil {
				return true, s.afterStep(id)
			}
			return true, nil
		}
		if wake.IsZero() {
			if s.afterStep != nil {
				if err := s.afterStep(id); err != nil {
					return false, err
				}
			}
			continue
		}
		// Waiting for App Hosts: until a change in the store (a report, a
		// login) or the step's deadline, renewing the lease meanwhile. The
		// deadline is by the Service's clock, which tests set.
		if err := s.waitChange(ctx, token, min(wake.Sub(s.now()), s.lease/3)); err != nil {
			return false, interrupted(id, "")
		}
	}
}

// ownRotation reads the rotation and makes sure this Service owns it: it
// takes over a rotation whose owner's lease expired, and renews the lease.
func (o *op) ownRotation(id string) (store.RotationRow, error) {
	r, err := o.tx.GetRotation(o.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, backend.Errorf(backend.CodeNotFound, "rotation %q not found", id)
	}
	if err != nil || r.Outcome != "" {
		return r, err
	}
	if r.Owner != o.s.owner {
		if o.now.Before(r.LeaseUntil) {
			return r, errNotOwner{r.Owner}
		}
		prev := r.Owner
		r.Owner = o.s.owner
		if err := o.audit(backend.ActionRotationStep, backend.TargetRotation, r.ID, r.AccountName,
			fmt.Sprintf("taken over at state %s from %s, whose lease expired at %s", r.State, prev, r.LeaseUntil.Format(time.RFC3339Nano))); err != nil {
			return r, err
		}
	}
	r.LeaseUntil = o.now.Add(o.s.lease)
	return r, nil
}

// rotationStep carries r one step on (stop_first, or overlap: overlap.go).
// It returns a zero time when it advanced, or, while it waits for App
// Hosts, when to look again at the latest.
func (o *op) rotationStep(r *store.RotationRow) (time.Time, error) {
	switch r.State {
	case backend.RotationIssuing:
		return time.Time{}, o.issuePending(r)
	case backend.RotationMoving:
		return o.moveRotationApps(r)
	case backend.RotationRollingBack:
		return o.rollBackRotation(r)
	case backend.RotationPreparing:
		return o.prepareRotation(r)
	case backend.RotationStopping:
		return o.stopRotationApps(r)
	case backend.RotationRegenerating:
		return time.Time{}, o.regenerate(r)
	case backend.RotationStarting:
		return o.startRotationApps(r)
	case backend.RotationRestoring:
		return time.Time{}, o.restoreRotationApps(r)
	}
	return time.Time{}, fmt.Errorf("rotation %s: unknown state %q", r.ID, r.State)
}

func (o *op) advance(r *store.RotationRow, state, detail string) error {
	r.State = state
	return o.audit(backend.ActionRotationStep, backend.TargetRotation, r.ID, r.AccountName, "state="+state+": "+detail)
}

// eachStep calls fn with each step in one of phases and its app, skipping
// (and marking) the steps whose app was deleted meanwhile.
func (o *op) eachStep(r *store.RotationRow, fn func(st *store.RotationStepRow, app *store.AppRow) error, phases ...string) error {
	for i := range r.Steps {
		st := &r.Steps[i]
		if !slices.Contains(phases, st.Phase) {
			continue
		}
		app, ok, err := o.stepApp(st)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := fn(st, &app); err != nil {
			return err
		}
	}
	return nil
}

// stepApp reads the app of a step; false when it was deleted meanwhile.
func (o *op) stepApp(st *store.RotationStepRow) (store.AppRow, bool, error) {
	app, err := o.tx.GetApp(o.ctx, st.AppID)
	if errors.Is(err, store.ErrNotFound) {
		st.Phase, st.Detail = backend.StepSkipped, "app deleted"
		return app, false, nil
	}
	return app, err == nil, err
}

// prepareRotation: every real App Host of a deployed app bound to the key
// must be online and acknowledge the hold (apply the desired state's
// revision that holds the apps). A host that never connected runs nothing
// of them, and a forgotten one stops its apps when it comes back: neither
// is waited for. An offline host, or one that does not answer within the
// offline delay, refuses the rotation with nothing stopped.
func (o *op) prepareRotation(r *store.RotationRow) (time.Time, error) {
	offline, silent := map[string][]string{}, map[string][]string{}
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Phase != backend.StepHeld || st.AckRevision == 0 {
			continue
		}
		h, err := o.hostOf(st.AppHost)
		if err != nil {
			return time.Time{}, err
		}
		switch {
		case !h.real || !h.known() || h.row.Forgotten:
		case !o.online(h):
			offline[st.AppHost] = append(offline[st.AppHost], st.AppName)
		case h.row.AppliedRevision < st.AckRevision:
			silent[st.AppHost] = append(silent[st.AppHost], st.AppName)
		}
	}
	deadline := r.CreatedAt.Add(o.s.offlineAfter)
	switch {
	case len(offline) > 0:
		// Those that have not answered yet are named too: the admin
		// learns of every host to look at from one refusal.
		either := ""
		if len(silent) > 0 {
			either = fmt.Sprintf(" These App Hosts have not acknowledged the rotation either: %s.", hostApps(silent))
		}
		r.Error = fmt.Sprintf("these App Hosts are offline, so nothing can confirm that their apps stop: %s.%s Nothing was "+
			"stopped and nothing regenerated. Bring the App Host back (terraform-provider-apphost host), or, if it is lost, "+
			"declare it so with terraform-provider-apphost app-hosts forget NAME; then apply again", hostApps(offline), either)
		return time.Time{}, o.refuse(r)
	case len(silent) > 0 && o.now.After(deadline):
		r.Error = fmt.Sprintf("these App Hosts did not acknowledge the rotation within %s: %s. Nothing was stopped and "+
			"nothing regenerated; check that they run and reach this server, then apply again", o.s.offlineAfter, hostApps(silent))
		return time.Time{}, o.refuse(r)
	case len(silent) > 0:
		return deadline, nil
	}
	if r.Strategy == backend.StrategyOverlap {
		return time.Time{}, o.advance(r, backend.RotationIssuing, "prepared: every App Host of the bound apps answered")
	}
	return time.Time{}, o.advance(r, backend.RotationStopping, "prepared: every App Host of the bound apps answered")
}

// hostApps says "host (apps a, b); other (apps c)".
func hostApps(m map[string][]string) string {
	var parts []string
	for _, h := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s (apps %s)", h, strings.Join(m[h], ", ")))
	}
	return strings.Join(parts, "; ")
}

// refuse ends a rotation that stopped nothing: its holds go.
func (o *op) refuse(r *store.RotationRow) error {
	if err := o.releaseHolds(r); err != nil {
		return err
	}
	return o.endRotation(r, backend.RotationRefused)
}

// stopRotationApps stops every held app that runs, then waits until each
// App Host confirmed. One that does not within the app's stop_timeout (plus
// a grace for the kill and the report) sends the rotation to restoring.
func (o *op) stopRotationApps(r *store.RotationRow) (time.Time, error) {
	issued := 0
	err := o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		h, err := o.hostOf(app.AppHost)
		if err != nil {
			return err
		}
		at, err := o.pause(app, "to rotate API key account "+r.AccountName)
		if err != nil {
			return err
		}
		st.Stopped, st.Phase = at, backend.StepStopped
		if h.real && !at.IsZero() && !h.row.Forgotten {
			st.Phase, st.Deadline = backend.StepStopping, o.now.Add(app.StopTimeout+stopGrace)
			issued++
		}
		return nil
	}, backend.StepHeld)
	if err != nil {
		return time.Time{}, err
	}
	if issued > 0 {
		if err := o.audit(backend.ActionRotationStep, backend.TargetRotation, r.ID, r.AccountName,
			fmt.Sprintf("state=stopping: asked App Hosts to stop %d apps", issued)); err != nil {
			return time.Time{}, err
		}
	}
	var wake time.Time
	var unconfirmed []string
	err = o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		h, err := o.hostOf(st.AppHost)
		if err != nil {
			return err
		}
		obs := app.Observed
		switch {
		case h.row.Forgotten, obs.Generation >= app.Generation && !processUp(obs.Phase):
			st.Phase = backend.StepStopped
		case o.now.After(st.Deadline):
			unconfirmed = append(unconfirmed, fmt.Sprintf("%s on %s", st.AppName, st.AppHost))
		default:
			wake = earliest(wake, st.Deadline)
		}
		return nil
	}, backend.StepStopping)
	if err != nil {
		return time.Time{}, err
	}
	if len(unconfirmed) > 0 {
		r.Error = fmt.Sprintf("no App Host confirmed the stop of these apps in time: %s. Nothing was regenerated; the "+
			"apps already stopped start again on the current secret. Check the App Hosts (terraform-provider-apphost "+
			"app-hosts), or declare a lost one with app-hosts forget NAME; then apply again", strings.Join(unconfirmed, ", "))
		return time.Time{}, o.advance(r, backend.RotationRestoring, "refused: "+r.Error)
	}
	if !wake.IsZero() {
		return wake, nil
	}
	stopped := 0
	for _, st := range r.Steps {
		if !st.Stopped.IsZero() {
			stopped++
		}
	}
	return time.Time{}, o.advance(r, backend.RotationRegenerating, fmt.Sprintf("stopped %d apps", stopped))
}

// earliest is the earlier of two deadlines, zero being none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// processUp: a reported phase in which the app's process may run.
func processUp(phase string) bool {
	return phase == hostapi.PhaseRunning || phase == hostapi.PhaseStarting || phase == hostapi.PhaseExited
}

// startRotationApps starts the apps the rotation stopped with the new
// secret, waits until each is healthy (or failed, or past its
// start_timeout), then ends the rotation.
func (o *op) startRotationApps(r *store.RotationRow) (time.Time, error) {
	err := o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		if err := o.resume(app, st.Stopped); err != nil {
			return err
		}
		st.Started, st.Phase, st.Deadline = o.clock(), backend.StepStarted, o.now.Add(app.StartTimeout)
		return nil
	}, backend.StepStopped)
	if err != nil {
		return time.Time{}, err
	}
	var wake time.Time
	err = o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		switch {
		case app.Status == backend.StatusRunning:
			st.Phase, st.Running = backend.StepRunning, o.runningAt(*app)
		case app.Status == backend.StatusPending:
			st.Phase, st.Detail = backend.StepSkipped, app.StatusDetail
		case app.Status == backend.StatusFailed, o.now.After(st.Deadline):
			st.Phase, st.Detail = backend.StepFailed, app.StatusDetail
			if st.Detail == "" {
				st.Detail = fmt.Sprintf("not healthy within start_timeout (%s)", app.StartTimeout)
			}
		default:
			wake = earliest(wake, st.Deadline)
		}
		return nil
	}, backend.StepStarted)
	if err != nil || !wake.IsZero() {
		return wake, err
	}
	if err := o.releaseHolds(r); err != nil {
		return time.Time{}, err
	}
	var failed []string
	for _, st := range r.Steps {
		if st.Phase == backend.StepFailed {
			failed = append(failed, fmt.Sprintf("%s (%s)", st.AppName, st.Detail))
		}
	}
	if len(failed) > 0 {
		r.Error = fmt.Sprintf("the secret was regenerated, but these apps did not become healthy with it: %s", strings.Join(failed, "; "))
		return time.Time{}, o.endRotation(r, backend.RotationDoneWithFailures)
	}
	return time.Time{}, o.endRotation(r, backend.RotationDone)
}

// runningAt is when a healthy app proved it runs on the new secret: its
// last login as a bound account, else now (the built-in App Host, or an
// app that says nothing).
func (o *op) runningAt(app store.AppRow) time.Time {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppID: app.ID})
	if err != nil {
		return o.clock()
	}
	return o.healthyAt(app, secrets)
}

// restoreRotationApps starts again, on the current secret, the apps a
// refused rotation stopped (or asked to stop), then ends it refused.
func (o *op) restoreRotationApps(r *store.RotationRow) error {
	err := o.eachStep(r, func(st *store.RotationStepRow, app *store.AppRow) error {
		if err := o.resume(app, st.Stopped); err != nil {
			return err
		}
		st.Phase = backend.StepRestored
		return nil
	}, backend.StepStopped, backend.StepStopping)
	if err != nil {
		return err
	}
	return o.refuse(r)
}

// regenerate is steps 2 and 3 in one transaction: a new secret, sealed into
// every app secret bound to the account.
func (o *op) regenerate(r *store.RotationRow) error {
	row, err := o.getAccount(r.AccountID)
	if err != nil {
		return err
	}
	if r.ExposeSecret != nil {
		row.ExposeSecret = *r.ExposeSecret
	}
	secret, hash := newSecret()
	rememberPrevious(&row, o.now)
	row.SecretHash = hash
	row.SecretVersion++
	row.SecretCreatedAt = o.now
	row.Locked = false
	row.FailedLoginAttempts = 0
	row.UpdatedAt = o.now
	if !row.Admin {
		row.SealedSecret = o.s.box.Seal([]byte(secret))
	}
	if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
		return err
	}
	detail := fmt.Sprintf("secret_version=%d, apps=%d", row.SecretVersion, len(r.Steps))
	if !row.ExposeSecret {
		detail += ", expose_secret=false"
	}
	if err := o.audit(backend.ActionAccountRegenerate, backend.TargetAccount, row.ID, row.Name, detail); err != nil {
		return err
	}
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AccountID: row.ID})
	if err != nil {
		return err
	}
	for _, sec := range secrets {
		sec.Ciphertext = o.s.box.Seal([]byte(secret))
		sec.UpdatedAt = o.now
		if err := o.tx.PutAppSecret(o.ctx, sec); err != nil {
			return err
		}
		id, name := secretTarget(sec.AppID, sec.AppName, sec.Name)
		if err := o.audit(backend.ActionAppSecretPut, backend.TargetAppSecret, id, name,
			fmt.Sprintf("api_key_account=%s, sealed by rotation to secret_version=%d", row.Name, row.SecretVersion)); err != nil {
			return err
		}
	}
	r.ToVersion = row.SecretVersion
	r.AccountName = row.Name
	// Kept for the caller's result and for retries (for IdempotencyWindow),
	// only where it may be shown.
	if row.ExposeSecret {
		r.SealedResult = o.s.box.Seal([]byte(secret))
	}
	return o.advance(r, backend.RotationStarting, fmt.Sprintf("regenerated to secret_version=%d and sealed into %d app secrets", row.SecretVersion, len(secrets)))
}

// releaseHolds lets go of every app the rotation holds.
func (o *op) releaseHolds(r *store.RotationRow) error {
	for _, st := range r.Steps {
		app, err := o.tx.GetApp(o.ctx, st.AppID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if app.HeldBy != r.ID {
			continue
		}
		app.HeldBy, app.Reload = "", false
		if err := o.tx.UpdateApp(o.ctx, app); err != nil {
			return err
		}
	}
	return nil
}

func (o *op) endRotation(r *store.RotationRow, outcome string) error {
	r.State, r.Outcome, r.EndedAt = outcome, outcome, o.clock()
	detail := fmt.Sprintf("strategy=%s, outcome=%s", r.Strategy, outcome)
	if r.ToVersion != 0 {
		detail += fmt.Sprintf(", secret_version=%d", r.ToVersion)
	}
	if r.Error != "" {
		detail += ": " + r.Error
	}
	return o.audit(backend.ActionRotationEnd, backend.TargetRotation, r.ID, r.AccountName, detail)
}

// awaitRotation waits until the rotation ended, driving it if its owner's
// lease expired.
func (s *Service) awaitRotation(ctx context.Context, id string) error {
	return s.DriveRotation(ctx, id)
}

// SweepRotations takes over and finishes every active rotation whose
// owner's lease expired. Every server runs it now and then.
func (s *Service) SweepRotations(ctx context.Context) error {
	var stale []string
	err := s.read(ctx, func(o *op) error {
		rows, err := o.tx.ListRotations(o.ctx, store.RotationFilter{ActiveOnly: true})
		for _, r := range rows {
			if !o.now.Before(r.LeaseUntil) {
				stale = append(stale, r.ID)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range stale {
		errs = append(errs, s.DriveRotation(ctx, id))
	}
	return errors.Join(errs...)
}

// GetRotation returns a rotation.
func (s *Service) GetRotation(ctx context.Context, id string) (*backend.Rotation, error) {
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	var out *backend.Rotation
	err := s.read(ctx, func(o *op) error {
		r, err := o.tx.GetRotation(o.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return backend.Errorf(backend.CodeNotFound, "rotation %q not found", id)
		}
		if err != nil {
			return err
		}
		x := toRotation(r)
		out = &x
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListRotations returns rotations, newest first.
func (s *Service) ListRotations(ctx context.Context, req backend.ListRotationsRequest) ([]backend.Rotation, error) {
	if req.AccountID != "" {
		if err := validateID("api_key_account_id", req.AccountID); err != nil {
			return nil, err
		}
	}
	if req.Limit < 0 {
		return nil, backend.InvalidField("limit", "limit must not be negative")
	}
	out := []backend.Rotation{}
	err := s.read(ctx, func(o *op) error {
		rows, err := o.tx.ListRotations(o.ctx, store.RotationFilter{AccountID: req.AccountID, ActiveOnly: req.ActiveOnly, Limit: req.Limit})
		for _, r := range rows {
			out = append(out, toRotation(r))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RotationResult returns the account as the rotation left it, with the new
// secret where expose_secret allows, to whoever holds the rotation's
// Idempotency-Key. A refused rotation's result is its error.
func (s *Service) RotationResult(ctx context.Context, req backend.RotationResultRequest) (*backend.AccountWithSecret, error) {
	if err := validateID("id", req.ID); err != nil {
		return nil, err
	}
	return s.rotationResult(ctx, req.ID, req.IdempotencyKey, false)
}

func (s *Service) rotationResult(ctx context.Context, id, key string, trusted bool) (*backend.AccountWithSecret, error) {
	var out *backend.AccountWithSecret
	err := s.read(ctx, func(o *op) error {
		r, err := o.tx.GetRotation(o.ctx, id)
		if err == nil && !trusted && (r.IdempotencyKey == "" || subtle.ConstantTimeCompare([]byte(r.IdempotencyKey), []byte(key)) != 1) {
			err = store.ErrNotFound // the same answer as for no such rotation
		}
		if errors.Is(err, store.ErrNotFound) {
			return backend.Errorf(backend.CodeNotFound, "no rotation %q with this Idempotency-Key", id)
		}
		if err != nil {
			return err
		}
		if r.Outcome == "" {
			return backend.Errorf(backend.CodeConflict, "rotation %s of API key account %q has not ended yet (state %s); "+
				"ask for its result when it has", r.ID, r.AccountName, r.State)
		}
		if r.ToVersion == 0 {
			return backend.Errorf(backend.CodeRefused, "the rotation of API key account %q was %s: %s. Nothing was "+
				"regenerated; every app bound to it runs as before", r.AccountName, r.Outcome, r.Error)
		}
		row, err := o.getAccount(r.AccountID)
		if err != nil {
			return err
		}
		a, err := o.account(row)
		if err != nil {
			return err
		}
		a.SecretVersion = r.ToVersion
		secret := ""
		if a.ExposeSecret && r.SealedResult != nil {
			plain, err := o.s.box.Open(r.SealedResult)
			if err != nil {
				return &backend.Error{Code: backend.CodeKeyFile, Message: "cannot decrypt the remembered result of this rotation", Err: err}
			}
			secret = string(plain)
		}
		out = withSecret(a, secret)
		x := toRotation(r)
		out.Rotation = &x
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func toRotation(r store.RotationRow) backend.Rotation {
	out := backend.Rotation{
		ID: r.ID, AccountID: r.AccountID, AccountName: r.AccountName, Strategy: r.Strategy, Reason: r.Reason,
		TriggersHash: r.TriggersHash, State: r.State, Outcome: r.Outcome, Error: r.Error, OverlapUntil: timePtr(r.OverlapUntil),
		FromVersion: r.FromVersion, ToVersion: r.ToVersion, Owner: r.Owner, LeaseUntil: r.LeaseUntil.UTC(),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Steps: make([]backend.RotationStep, 0, len(r.Steps)),
	}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt.UTC()
		out.EndedAt = &t
	}
	for _, st := range r.Steps {
		step := backend.RotationStep{AppID: st.AppID, AppName: st.AppName, AppHost: st.AppHost, Phase: st.Phase, Detail: st.Detail,
			StoppedAt: timePtr(st.Stopped), StartedAt: timePtr(st.Started), RunningAt: timePtr(st.Running), BackAt: timePtr(st.Back)}
		if !st.Stopped.IsZero() && !st.Running.IsZero() {
			ms := float64(st.Running.Sub(st.Stopped)) / float64(time.Millisecond)
			step.DowntimeMS = &ms
		}
		out.Steps = append(out.Steps, step)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// drivingSet is the rotations this process drives right now, so that two
// of its goroutines never drive one rotation at once.
type drivingSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (d *drivingSet) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids[id] {
		return false
	}
	if d.ids == nil {
		d.ids = map[string]bool{}
	}
	d.ids[id] = true
	return true
}

func (d *drivingSet) release(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ids, id)
}
