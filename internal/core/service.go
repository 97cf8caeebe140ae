package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

var _ backend.Backend = (*Service)(nil)

// Options tune a Service. Zero values take the defaults.
type Options struct {
	// LockoutThreshold is how many failed logins lock an account; 0 means
	// DefaultLockoutThreshold.
	LockoutThreshold int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RotationLease is how long a rotation's driver may go silent before
	// another may take the rotation over; 0 means DefaultRotationLease.
	RotationLease time.Duration
	// Owner names this Service as a rotation's driver; "" means a name made
	// of the host name, the process ID and a random part.
	Owner string
	// AppHostOfflineAfter is how long without a report makes an App Host
	// offline; 0 means DefaultAppHostOfflineAfter.
	AppHostOfflineAfter time.Duration
	// AfterRotationStep, when set, is called after each committed step of a
	// rotation this Service drives; an error stops the driver there, as if
	// its process had died (for tests).
	AfterRotationStep func(rotationID string) error
}

// Service is the admin domain over a store: the embedded backend, and what
// the HTTP server serves.
type Service struct {
	st        store.Store
	box       *secretbox.Box
	threshold int64
	now       func() time.Time
	logins    loginQueue // Login's group commit
	owner     string     // this Service as a rotation's driver
	lease     time.Duration
	driving   drivingSet
	afterStep func(rotationID string) error
	// offlineAfter: see Options.AppHostOfflineAfter.
	offlineAfter time.Duration
	// watcher tells of other processes' changes (nil: the store cannot);
	// local of this Service's own commits.
	watcher store.Watcher
	local   notifier
	unknown unknownLogins
}

// NewService returns a Service over st that seals app secret values with box.
// The Service owns st: Close closes it.
func NewService(st store.Store, box *secretbox.Box, opts Options) *Service {
	s := &Service{st: st, box: box, threshold: int64(opts.LockoutThreshold), now: opts.Now,
		owner: opts.Owner, lease: opts.RotationLease, afterStep: opts.AfterRotationStep}
	if s.owner == "" {
		s.owner = defaultOwner()
	}
	if s.lease <= 0 {
		s.lease = DefaultRotationLease
	}
	s.offlineAfter = opts.AppHostOfflineAfter
	if s.offlineAfter <= 0 {
		s.offlineAfter = DefaultAppHostOfflineAfter
	}
	s.watcher, _ = st.(store.Watcher)
	if s.threshold <= 0 {
		s.threshold = backend.DefaultLockoutThreshold
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// defaultOwner names a driver: host, process and a random part (two
// Services of one process are two drivers).
func defaultOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
}

// Close audits the failed network logins for unknown IDs that are counted
// but not yet audited (see NetworkLogin), then closes the store.
func (s *Service) Close() error {
	if pending := s.unknown.drain(s.now()); len(pending) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Best effort: a store that fails now has failed the logins too.
		_ = s.write(ctx, func(o *op) error {
			for actor, detail := range pending {
				if err := o.auditAs(actor, backend.ActionLoginFailure, backend.TargetAccount, unknownTarget, "", detail); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return s.st.Close()
}

// op is one domain operation inside one store transaction.
type op struct {
	s     *Service
	ctx   context.Context
	tx    store.Tx
	now   time.Time
	actor string
	// hosts caches what each app_host name is, for this operation.
	hosts map[string]hostKind
}

// write runs fn in one write transaction: a failure of any step rolls back
// every step before it.
func (s *Service) write(ctx context.Context, fn func(o *op) error) error {
	err := s.st.Write(ctx, func(tx store.Tx) error {
		return fn(s.newOp(ctx, tx))
	})
	if err == nil {
		s.local.notify()
	}
	return mapError(err)
}

// read runs fn in one read-only transaction, so a result is one snapshot.
func (s *Service) read(ctx context.Context, fn func(o *op) error) error {
	err := s.st.Read(ctx, func(tx store.Tx) error {
		return fn(s.newOp(ctx, tx))
	})
	return mapError(err)
}

// writeValue is write for an operation that returns a value: fn's, or the
// zero value with the error.
func writeValue[T any](s *Service, ctx context.Context, fn func(o *op) (T, error)) (T, error) {
	return withValue(s.write, ctx, fn)
}

// readValue is read for an operation that returns a value: fn's, or the
// zero value with the error.
func readValue[T any](s *Service, ctx context.Context, fn func(o *op) (T, error)) (T, error) {
	return withValue(s.read, ctx, fn)
}

func withValue[T any](run func(context.Context, func(*op) error) error, ctx context.Context, fn func(o *op) (T, error)) (T, error) {
	var out T
	err := run(ctx, func(o *op) error {
		var err error
		out, err = fn(o)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

func (s *Service) newOp(ctx context.Context, tx store.Tx) *op {
	return &op{
		s:   s,
		ctx: ctx,
		tx:  tx,
		// Microseconds in UTC: what both SQLite and PostgreSQL give back, so a
		// returned object equals the same object read again.
		now:   s.now().UTC().Truncate(time.Microsecond),
		actor: ActorFrom(ctx),
	}
}

// clock reads the Service's clock as the store keeps times: microseconds in UTC.
func (o *op) clock() time.Time { return o.s.now().UTC().Truncate(time.Microsecond) }

// audit appends one event done by o's actor.
func (o *op) audit(action, targetType, targetID, targetName, detail string) error {
	return o.auditAs(o.actor, action, targetType, targetID, targetName, detail)
}

func (o *op) auditAs(actor, action, targetType, targetID, targetName, detail string) error {
	_, err := o.tx.AppendAudit(o.ctx, store.AuditRow{
		// The clock is read per event, not once per transaction, so the
		// events of one rotation tell how long each app was down.
		Time:       o.clock(),
		Actor:      actor,
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		TargetName: targetName,
		Detail:     detail,
	})
	return err
}

// mapError turns store and box failures into *Error; a *Error passes unchanged.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var e *backend.Error
	if errors.As(err, &e) {
		return err
	}
	// The rotation engine's own signals pass to its callers unchanged.
	var busy errBusy
	var notOwner errNotOwner
	if errors.As(err, &busy) || errors.As(err, &notOwner) {
		return err
	}
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &backend.Error{Code: backend.CodeUnavailable, Message: "the store is unavailable; retry later", Err: err}
	case errors.Is(err, store.ErrSchemaNewer):
		return &backend.Error{Code: backend.CodeSchemaNewer, Message: "the store was written by a newer version of apphost; upgrade this program", Err: err}
	case errors.Is(err, secretbox.ErrWrongKey), errors.Is(err, secretbox.ErrCorrupt):
		return &backend.Error{Code: backend.CodeKeyFile, Message: "cannot decrypt a stored app secret value", Err: err}
	case errors.Is(err, store.ErrConflict):
		// A unique name taken between our check and our write.
		return &backend.Error{Code: backend.CodeConflict, Message: "a concurrent change took the same name; retry", Err: err}
	case errors.Is(err, context.Canceled):
		return &backend.Error{Code: backend.CodeUnavailable, Message: "the request was canceled", Err: err}
	}
	return &backend.Error{Code: backend.CodeInternal, Message: "internal error", Err: err}
}
