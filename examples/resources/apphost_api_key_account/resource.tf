resource "apphost_api_key_account" "siem" {
  name        = "siem-forwarder"
  description = "Forwards audit events to the SIEM"

  # Change any value to rotate the secret (same ID, new secret): one backend
  # operation that also redeploys every app bound to the key.
  rotation_triggers = { quarter = "2026-Q4" }

  # And rotate anyway once the secret is older than 90 days.
  rotation_period = "2160h"

  # A locked account found on refresh is planned for rotation (default).
  rotate_when_locked = true

  # The secret never leaves the backend: no plan or state holds it. The
  # app secrets bound to the key receive it from the backend.
  expose_secret = false
}
