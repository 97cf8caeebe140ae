package membackend

import (
	"context"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// The in-memory floor predates rotations as objects: it reports none.

// GetRotation implements backend.Backend.
func (b *Backend) GetRotation(context.Context, string) (*backend.Rotation, error) {
	return nil, backend.Errorf(backend.CodeNotFound, "the in-memory floor keeps no rotations")
}

// ListRotations implements backend.Backend.
func (b *Backend) ListRotations(context.Context, backend.ListRotationsRequest) ([]backend.Rotation, error) {
	return []backend.Rotation{}, nil
}

// RotationResult implements backend.Backend.
func (b *Backend) RotationResult(context.Context, backend.RotationResultRequest) (*backend.AccountWithSecret, error) {
	return nil, backend.Errorf(backend.CodeNotFound, "the in-memory floor keeps no rotations")
}
