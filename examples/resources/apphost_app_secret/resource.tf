resource "apphost_api_key_account" "siem" {
  name              = "siem-forwarder"
  rotation_triggers = { quarter = "2026-Q4" }
}

resource "apphost_app" "forwarder" {
  name     = "siem-forwarder"
  app_host = "apphost-east"
}

# The app's copy of the key's secret. A rotation of the key replaces it:
# the app is undeployed, the key regenerated, the new secret stored and the
# app deployed again, in that order, in one apply.
resource "apphost_app_secret" "forwarder" {
  app_id             = apphost_app.forwarder.id
  name               = apphost_api_key_account.siem.name
  api_key_account_id = apphost_api_key_account.siem.id
  value              = apphost_api_key_account.siem.secret
}

# The same with a write-only value, kept out of the state and the plan.
resource "apphost_app_secret" "forwarder_wo" {
  app_id             = apphost_app.forwarder.id
  name               = "siem-forwarder-wo"
  api_key_account_id = apphost_api_key_account.siem.id
  value_wo           = apphost_api_key_account.siem.secret
  value_wo_version   = apphost_api_key_account.siem.secret_version
}
