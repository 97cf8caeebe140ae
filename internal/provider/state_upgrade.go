package provider

import (
	"encoding/json"
	"errors"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// upgradeStateJSON returns raw with the attributes of added set where raw
// has none: the upgrade of a state written before those attributes existed.
func upgradeStateJSON(raw *tfprotov6.RawState, added map[string]any) (*tfprotov6.DynamicValue, error) {
	if raw == nil || raw.JSON == nil {
		return nil, errors.New("the state has no JSON form")
	}
	var attrs map[string]any
	if err := json.Unmarshal(raw.JSON, &attrs); err != nil {
		return nil, err
	}
	for k, v := range added {
		if attrs[k] == nil {
			attrs[k] = v
		}
	}
	out, err := json.Marshal(attrs)
	if err != nil {
		return nil, err
	}
	return &tfprotov6.DynamicValue{JSON: out}, nil
}
