data "apphost_app_hosts" "all" {}

# Real App Hosts that are not online: never connected (their apps wait,
# pending) or stopped reporting.
output "app_hosts_not_online" {
  value = [for h in data.apphost_app_hosts.all.app_hosts : "${h.name} (${h.state})" if !h.built_in && h.state != "online"]
}

output "apps_by_app_host" {
  value = { for h in data.apphost_app_hosts.all.app_hosts : h.name => h.apps }
}
