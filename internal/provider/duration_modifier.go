package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
)

var _ planmodifier.String = sameDurationModifier{}

// sameDuration keeps the state's spelling of a duration that the
// configuration spells otherwise ("15m0s" for "15m"): the same duration is
// no change. Terraform accepts the prior value as the plan of a configured
// attribute (it is the provider's word that the two are equal), so the plan
// shows nothing and the apply calls nothing.
func sameDuration() planmodifier.String { return sameDurationModifier{} }

type sameDurationModifier struct{}

func (sameDurationModifier) Description(context.Context) string {
	return "A duration spelled otherwise than in state (\"15m0s\" for \"15m\") is no change."
}

func (m sameDurationModifier) MarkdownDescription(ctx context.Context) string {
	return m.Description(ctx)
}

func (sameDurationModifier) PlanModifyString(_ context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.StateValue.IsNull() || req.StateValue.IsUnknown() || req.PlanValue.IsNull() || req.PlanValue.IsUnknown() ||
		req.PlanValue.Equal(req.StateValue) {
		return
	}
	planned, err := time.ParseDuration(req.PlanValue.ValueString())
	if err != nil {
		return
	}
	if prior, err := time.ParseDuration(req.StateValue.ValueString()); err == nil && prior == planned {
		resp.PlanValue = req.StateValue
	}
}
