resource "apphost_app" "forwarder" {
  name     = "siem-forwarder"
  app_host = "apphost-east"
  version  = "2.4.1"

  # Non-secret settings; secrets go in apphost_app_secret.
  config = {
    log_level = "info"
    target    = "https://siem.example.com/ingest"
  }

  # A change while deployed is applied as undeploy, change, deploy.
  deployed = true
}
