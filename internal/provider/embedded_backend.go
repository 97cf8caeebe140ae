package provider

import (
	"context"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/local"
)

// openEmbedded opens the embedded backend over the SQLite file at abs,
// creating the store and its key file if they do not exist.
func openEmbedded(ctx context.Context, abs string) (backend.Backend, error) {
	return local.Open(ctx, local.Config{Store: "sqlite:" + abs})
}
