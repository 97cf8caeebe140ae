package provider

import (
	"context"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
)

// openEmbedded opens the embedded backend over the SQLite file at abs,
// creating the store and its key file if they do not exist.
func openEmbedded(ctx context.Context, abs string) (backend.Backend, error) {
	return embedded.Open(ctx, embedded.Config{Store: "sqlite:" + abs})
}
