data "apphost_api_key_account" "siem" {
  name = "siem-forwarder"
}

output "siem_key" {
  value = {
    id             = data.apphost_api_key_account.siem.id
    locked         = data.apphost_api_key_account.siem.locked
    secret_version = data.apphost_api_key_account.siem.secret_version
    apps           = data.apphost_api_key_account.siem.apps
  }
}
