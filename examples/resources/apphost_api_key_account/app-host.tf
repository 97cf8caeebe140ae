# The identity of the App Host "apphost-east": the App Host process
#
#   APPHOST_API_KEY_ID=<id> terraform-provider-apphost host --name apphost-east \
#     --endpoint https://apphost.example.com --secret-file /etc/apphost/secret
#
# logs in as this account, and may only read the desired state and the
# secrets of the apps whose app_host is "apphost-east", and report them.
resource "apphost_api_key_account" "apphost_east" {
  name     = "apphost-east"
  app_host = "apphost-east"
}

output "apphost_east_key_id" {
  value = apphost_api_key_account.apphost_east.id
}

# Write it to the App Host's --secret-file (0600).
output "apphost_east_secret" {
  value     = apphost_api_key_account.apphost_east.secret
  sensitive = true
}
