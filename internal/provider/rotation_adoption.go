package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// A rotation is asked for with an Idempotency-Key made of what it is for:
// the account, the secret_version it replaces, the hash of the
// rotation_triggers and expose_secret. The backend records the triggers'
// hash with the rotation. So when the provider is killed after the backend
// committed a rotation but before Terraform saved the new state, the next
// refresh finds that rotation (Read keeps it as privateAdoptable); if it was
// for the triggers now configured, the plan adopts it instead of rotating
// again, and the apply repeats the first request with the same key: the
// backend answers with that rotation's result (finishing it first if its
// driver died before its end), never with a second rotation.

// Private state keys of the rotation.
const (
	// privateAdoptable is the rotation that made the account's current
	// secret, when Read found the state one version behind it.
	privateAdoptable = "adoptable_rotation"
	// privateReason is why the plan rotates, for the apply to record.
	privateReason = "rotation_reason"
)

// adoptable is what Read keeps of the rotation that made the current secret.
type adoptable struct {
	RotationID   string `json:"rotation_id"`
	TriggersHash string `json:"triggers_hash"`
	FromVersion  int64  `json:"from_version"`
	ToVersion    int64  `json:"to_version"`
	ExposeSecret bool   `json:"expose_secret"`
	// Ended: the rotation has ended. One that has not (its driver died
	// after the regeneration) is finished by the apply that adopts it.
	Ended bool `json:"ended"`
}

// privateGetter is the private state of a request.
type privateGetter interface {
	GetKey(context.Context, string) ([]byte, diag.Diagnostics)
}

// privateSetter is the private state of a response.
type privateSetter interface {
	SetKey(context.Context, string, []byte) diag.Diagnostics
}

// readAdoptable returns the adoptable rotation kept by the last refresh.
func readAdoptable(ctx context.Context, p privateGetter) (adoptable, bool) {
	if p == nil {
		return adoptable{}, false
	}
	raw, _ := p.GetKey(ctx, privateAdoptable)
	var a adoptable
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil || a.RotationID == "" {
		return adoptable{}, false
	}
	return a, true
}

// findAdoptable looks, when the state is behind the backend's secret, for a
// rotation that Terraform asked for (it has a triggers hash) and that made
// the current secret. Reads never fail for it: an older server without
// rotations has none to adopt.
func findAdoptable(ctx context.Context, b backend.Backend, a *backend.Account, stateVersion int64) (adoptable, bool) {
	if stateVersion == 0 || stateVersion >= a.SecretVersion {
		return adoptable{}, false
	}
	list, err := b.ListRotations(ctx, backend.ListRotationsRequest{AccountID: a.ID, Limit: 5})
	if err != nil {
		return adoptable{}, false
	}
	for _, r := range list {
		if r.ToVersion == a.SecretVersion && r.TriggersHash != "" && r.Regenerated() {
			return adoptable{RotationID: r.ID, TriggersHash: r.TriggersHash, FromVersion: r.FromVersion,
				ToVersion: r.ToVersion, ExposeSecret: a.ExposeSecret, Ended: r.Ended()}, true
		}
	}
	return adoptable{}, false
}

// keepAdoptable records (or, when none, clears) the adoptable rotation.
func keepAdoptable(ctx context.Context, p privateSetter, a adoptable, ok bool) diag.Diagnostics {
	if !ok {
		return p.SetKey(ctx, privateAdoptable, nil)
	}
	raw, _ := json.Marshal(a)
	return p.SetKey(ctx, privateAdoptable, raw)
}

// triggersHash is the hash of the configured rotation_triggers, or "" when
// they are not known yet.
func triggersHash(ctx context.Context, m types.Map) string {
	if m.IsUnknown() || hasUnknownElement(m) {
		return ""
	}
	out := map[string]string{}
	if !m.IsNull() {
		if d := m.ElementsAs(ctx, &out, false); d.HasError() {
			return ""
		}
	}
	return backend.TriggersHash(out)
}

// rotationKey is the Idempotency-Key of the rotation of account id from
// secret_version from, for triggers hash h and expose_secret: the same
// request always has the same key, so a retry after a crash replays it.
func rotationKey(id string, from int64, h string, expose bool) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s\x00%t", id, from, h, expose)))
	return "tf-" + hex.EncodeToString(sum[:20])
}
