package core

import "context"

type actorKey struct{}

// DefaultActor is the audit actor of calls that carry none.
const DefaultActor = "terraform"

// WithActor returns a context whose calls are audited as done by actor: the
// admin key account's name on a server, an app's name for the App Host runtime.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor of ctx, or DefaultActor.
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return DefaultActor
}
