resource "apphost_api_key_account" "siem" {
  name        = "siem-forwarder"
  description = "Forwards audit events to the SIEM"

  # Change any value to regenerate the secret (same ID, new secret).
  rotation_triggers = { quarter = "2026-Q4" }

  # And regenerate anyway once the secret is older than 90 days.
  rotation_period = "2160h"

  # A locked account found on refresh is planned for regeneration (default).
  rotate_when_locked = true
}
