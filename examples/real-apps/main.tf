# A key rotation whose apps run as real processes: two API key accounts and
# three apps on a real App Host (terraform-provider-apphost host), each app
# the reference app (terraform-provider-apphost example-app), which reads
# its secret from secrets/NAME and logs in over the network with it.
#
#   terraform apply -var binary=PATH -var quarter=2026-Q4
#   terraform apply -var binary=PATH -var quarter=2027-Q1  # rotates the siem key
#
# The second apply rotates the siem key: its App Host stops the two apps bound
# to it and confirms, the backend regenerates the secret and seals it into
# their app secrets, and the App Host starts them again with the new secret
# files; the rotation ends when each has logged in with the new secret.
# scripts/demo.sh (make demo) runs exactly this, with serve and the App Host
# on loopback (the App Host's identity comes from ./host).

terraform {
  required_version = ">= 1.11"
  required_providers {
    apphost = {
      source = "apphost/apphost"
    }
  }
}

variable "store_path" {
  description = "The embedded backend's database file (serve's store, shared)."
  type        = string
  default     = ".apphost/apphost.db"
}

variable "app_host" {
  description = "The App Host the apps run on (an App Host account claims it: see ./host)."
  type        = string
  default     = "demo-host"
}

variable "binary" {
  description = "The terraform-provider-apphost binary: the apps run its example-app."
  type        = string
  default     = "terraform-provider-apphost"
}

variable "quarter" {
  description = "Rotation trigger of the siem key: change it to regenerate the secret."
  type        = string
  default     = "2026-Q4"
}

provider "apphost" {
  store_path = var.store_path
}

resource "apphost_api_key_account" "siem" {
  name              = "siem-forwarder"
  description       = "Used by the log shippers"
  rotation_triggers = { quarter = var.quarter }
  expose_secret     = false # the secret never leaves the backend
}

resource "apphost_api_key_account" "backup" {
  name              = "backup-agent"
  description       = "Used by the backup agent"
  rotation_triggers = { quarter = "2026-Q4" }
  expose_secret     = false
}

locals {
  # The key each app authenticates with.
  key_of_app = {
    "siem-forwarder-east" = "siem"
    "siem-forwarder-west" = "siem"
    "backup-agent"        = "backup"
  }
  keys = {
    siem   = apphost_api_key_account.siem
    backup = apphost_api_key_account.backup
  }
}

resource "apphost_app" "app" {
  for_each     = local.key_of_app
  name         = each.key
  app_host     = var.app_host
  version      = "1.0.0"
  command      = [var.binary, "example-app"]
  secret_names = ["api-key"] # never started without its key's secret
  config       = { login_interval = "2s" }

  stop_timeout  = "5s"
  start_timeout = "30s"
}

# Each app's copy of its key's secret, bound to the key and with no value:
# the backend fills it and reseals it at every rotation of the key; the App
# Host writes it to the app's secrets/api-key.
resource "apphost_app_secret" "key" {
  for_each           = local.key_of_app
  app_id             = apphost_app.app[each.key].id
  name               = "api-key"
  api_key_account_id = local.keys[each.value].id
}

output "siem_key_id" {
  description = "The siem key's ID: the same before and after a rotation."
  value       = apphost_api_key_account.siem.id
}

output "siem_secret_version" {
  description = "1 at create, + 1 at each rotation."
  value       = apphost_api_key_account.siem.secret_version
}
