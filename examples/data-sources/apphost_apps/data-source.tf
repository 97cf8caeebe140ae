data "apphost_apps" "east" {
  app_host = "apphost-east"
  deployed = true
}

output "east_apps" {
  value = [for a in data.apphost_apps.east.apps : "${a.name} (${a.status})"]
}
