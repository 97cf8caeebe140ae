# A key whose rotations take no app down: the backend issues the new secret
# as pending, valid beside the current one, and moves the apps bound to the
# key to it one at a time (in app name order, the first as a canary). Each
# must run on the new secret before the next moves; if one does not, every
# app moved goes back and the rotation is rolled back, the key as before.
resource "apphost_api_key_account" "ingest" {
  name              = "ingest"
  rotation_triggers = { quarter = "2026-Q4" }
  expose_secret     = false

  rotation_strategy = "overlap"
  overlap_period    = "30m" # the whole move must fit; the plan warns when the apps' start_timeouts add up to more
}

resource "apphost_app" "ingest_east" {
  name          = "ingest-east"
  app_host      = "apphost-east"
  command       = ["/usr/local/bin/terraform-provider-apphost", "example-app"]
  secret_names  = ["api-key"]
  start_timeout = "30s"
  reload_signal = "SIGHUP" # rereads its secret files: moved without a restart
}

resource "apphost_app_secret" "ingest_east" {
  app_id             = apphost_app.ingest_east.id
  name               = "api-key"
  api_key_account_id = apphost_api_key_account.ingest.id
}
