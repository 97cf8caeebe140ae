// Package wrap serves a provider over a backend of the caller's choosing:
// every method is the wrapped provider's, except Configure, which hands the
// resources and data sources the given backend.Backend (what the apphost
// provider's own Configure hands them after opening a store or a client).
package wrap

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/provider"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var (
	_ provider.Provider                     = (*wrapped)(nil)
	_ provider.ProviderWithConfigValidators = (*wrapped)(nil)
	_ provider.ProviderWithValidateConfig   = (*wrapped)(nil)
)

// WithBackend returns a provider factory whose providers are made by inner
// and configured with b.
func WithBackend(inner func() provider.Provider, b backend.Backend) func() provider.Provider {
	return func() provider.Provider {
		return &wrapped{Provider: inner(), b: b}
	}
}

type wrapped struct {
	provider.Provider
	b backend.Backend
}

// Configure skips the inner Configure: no store is opened, no client built.
func (w *wrapped) Configure(_ context.Context, _ provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	resp.ResourceData = w.b
	resp.DataSourceData = w.b
}

func (w *wrapped) ConfigValidators(ctx context.Context) []provider.ConfigValidator {
	if p, ok := w.Provider.(provider.ProviderWithConfigValidators); ok {
		return p.ConfigValidators(ctx)
	}
	return nil
}

func (w *wrapped) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	if p, ok := w.Provider.(provider.ProviderWithValidateConfig); ok {
		p.ValidateConfig(ctx, req, resp)
	}
}
