resource "apphost_app" "forwarder" {
  name = "siem-forwarder"

  # A real App Host: an App Host account claims the name (see
  # apphost_api_key_account). Any other name is the built-in App Host's.
  app_host = "apphost-east"
  version  = "2.4.1"

  # What the App Host runs, in the app's directory, with its app.config and
  # each secret in secrets/NAME.
  command = ["terraform-provider-apphost", "example-app"]

  # Not started until these app secrets exist, and stopped while one is
  # missing: a -replace of the key never starts the app without its secret.
  secret_names = ["siem-forwarder"]

  stop_timeout  = "10s"    # SIGTERM to the process group, then SIGKILL
  start_timeout = "60s"    # how long a start may take to become healthy
  reload_signal = "SIGHUP" # the app rereads its secret files on it

  # Non-secret settings; secrets go in apphost_app_secret.
  config = {
    log_level = "info"
    target    = "https://siem.example.com/ingest"
  }

  # A change while deployed is applied as undeploy, change, deploy.
  deployed = true

  # How long a create or an update waits for the app to be running.
  timeouts {
    create = "10m"
    update = "10m"
  }
}
