resource "apphost_api_key_account" "siem" {
  name              = "siem-forwarder"
  rotation_triggers = { quarter = "2026-Q4" }
  expose_secret     = false
}

resource "apphost_app" "forwarder" {
  name     = "siem-forwarder"
  app_host = "apphost-east"

  # Not started without its key's secret, even while the key is replaced.
  secret_names = [apphost_api_key_account.siem.name]
}

# Bound, with no value (recommended): the backend fills the secret with the
# key's current secret, and reseals it at every rotation of the key while it
# redeploys the app. The secret never passes through Terraform.
resource "apphost_app_secret" "forwarder" {
  app_id             = apphost_app.forwarder.id
  name               = apphost_api_key_account.siem.name
  api_key_account_id = apphost_api_key_account.siem.id
}

# Unbound: an opaque app.config secret that the App Host never logs in with.
# It needs a value; a change is an in-place update that redeploys the app.
variable "siem_ingest_token" {
  type      = string
  sensitive = true
}

resource "apphost_app_secret" "ingest_token" {
  app_id           = apphost_app.forwarder.id
  name             = "ingest-token"
  value_wo         = var.siem_ingest_token
  value_wo_version = 1 # raise it to write a new token
}
