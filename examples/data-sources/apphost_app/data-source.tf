data "apphost_app" "forwarder" {
  name = "siem-forwarder"
}

output "forwarder_status" {
  value = data.apphost_app.forwarder.status
}
