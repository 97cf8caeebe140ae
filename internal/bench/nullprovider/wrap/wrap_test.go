package wrap

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/provider"

	"github.com/apphost/terraform-provider-apphost/internal/bench/membackend"
	apphost "github.com/apphost/terraform-provider-apphost/internal/provider"
)

// TestSameInterfaces fails when the apphost provider gains an optional
// provider interface that the wrapper does not forward: the floor would then
// not be the same provider.
func TestSameInterfaces(t *testing.T) {
	inner := apphost.New("test")()
	w := WithBackend(apphost.New("test"), membackend.New(""))()
	checks := map[string]func(provider.Provider) bool{
		"ProviderWithConfigValidators": func(p provider.Provider) bool {
			_, ok := p.(provider.ProviderWithConfigValidators)
			return ok
		},
		"ProviderWithValidateConfig": func(p provider.Provider) bool { _, ok := p.(provider.ProviderWithValidateConfig); return ok },
		"ProviderWithFunctions":      func(p provider.Provider) bool { _, ok := p.(provider.ProviderWithFunctions); return ok },
		"ProviderWithEphemeralResources": func(p provider.Provider) bool {
			_, ok := p.(provider.ProviderWithEphemeralResources)
			return ok
		},
		"ProviderWithMetaSchema":    func(p provider.Provider) bool { _, ok := p.(provider.ProviderWithMetaSchema); return ok },
		"ProviderWithListResources": func(p provider.Provider) bool { _, ok := p.(provider.ProviderWithListResources); return ok },
		"ProviderWithActions":       func(p provider.Provider) bool { _, ok := p.(provider.ProviderWithActions); return ok },
	}
	for name, has := range checks {
		if has(inner) && !has(w) {
			t.Errorf("the apphost provider implements %s but the benchmark wrapper does not forward it", name)
		}
	}
}
