package backend

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Rotation is a rotation of an account's secret: a durable object that one
// driver at a time carries through its steps, and that ends with an outcome.
type Rotation struct {
	ID          string `json:"id"`
	AccountID   string `json:"api_key_account_id"`
	AccountName string `json:"api_key_account_name"`
	Strategy    string `json:"strategy"`
	Reason      string `json:"reason"`
	// TriggersHash is the hash of the rotation_triggers it was asked for.
	TriggersHash string `json:"triggers_hash,omitempty"`
	// State is one of the Rotation* states; an ended rotation's State is its Outcome.
	State string `json:"state"`
	// Outcome is RotationDone, RotationDoneWithFailures, RotationRefused or
	// RotationRolledBack once the rotation ended, "" while it is active.
	Outcome     string `json:"outcome,omitempty"`
	Error       string `json:"error,omitempty"`
	FromVersion int64  `json:"from_secret_version"`
	// ToVersion is the secret_version the rotation committed (0 before).
	ToVersion int64 `json:"to_secret_version,omitempty"`
	// OverlapUntil bounds an overlap rotation's move (set once its pending
	// secret is issued): it rolls back rather than go past it.
	OverlapUntil *time.Time     `json:"overlap_until,omitempty"`
	Owner        string         `json:"owner,omitempty"`
	LeaseUntil   time.Time      `json:"lease_until"`
	Steps        []RotationStep `json:"steps"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	EndedAt      *time.Time     `json:"ended_at,omitempty"`
}

// Ended reports whether the rotation reached its outcome.
func (r Rotation) Ended() bool { return r.Outcome != "" }

// Regenerated reports whether the rotation committed a new secret.
func (r Rotation) Regenerated() bool { return r.ToVersion != 0 }

// RotationStep is what a rotation did to one app bound to its account.
type RotationStep struct {
	AppID   string `json:"app_id"`
	AppName string `json:"app_name"`
	AppHost string `json:"app_host"`
	// Phase is one of the Step* phases.
	Phase     string     `json:"phase"`
	StoppedAt *time.Time `json:"stopped_at,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	RunningAt *time.Time `json:"running_at,omitempty"`
	// BackAt is when an overlap rotation's rollback gave the app the
	// current secret back.
	BackAt *time.Time `json:"back_at,omitempty"`
	// DowntimeMS is how long the app was down: from its stop to its first
	// successful login with the new secret.
	DowntimeMS *float64 `json:"downtime_ms,omitempty"`
	Detail     string   `json:"detail,omitempty"`
}

// ListRotationsRequest filters ListRotations. Zero values do not filter.
type ListRotationsRequest struct {
	AccountID string `json:"api_key_account_id,omitempty"`
	// ActiveOnly keeps the rotations that have not ended.
	ActiveOnly bool `json:"active_only,omitempty"`
	// Limit caps the number of rotations; 0 means all.
	Limit int `json:"limit,omitempty"`
}

// RotationResultRequest asks for a rotation's result.
type RotationResultRequest struct {
	ID string `json:"-"`
	// IdempotencyKey must be the key the rotation was asked with.
	IdempotencyKey string `json:"-"`
}

// TriggersHash is the hash a rotation records of the rotation_triggers it
// is for: SHA-256 of the map as JSON with sorted keys, in hex. A nil map and
// an empty one hash alike.
func TriggersHash(triggers map[string]string) string {
	keys := slices.Sorted(maps.Keys(triggers))
	pairs := make([][2]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, [2]string{k, triggers[k]})
	}
	b, _ := json.Marshal(pairs) // strings always encode
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
