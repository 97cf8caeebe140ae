# A key rotation on the embedded backend: two API key accounts, three apps,
# two of them on the same key. Change var.quarter to rotate the "siem" key:
#
#   terraform apply -var quarter=2026-Q4
#   terraform apply -var quarter=2027-Q1   # one rotation: undeploy, regenerate, put, deploy
#
# The second apply plans one in-place update (the siem key, secret_version
# + 1) and warns "API key account "siem-forwarder" will be rotated", naming
# the two apps it redeploys. The backend rotates the key in one transaction:
# each app is down for milliseconds. With expose_secret = false and bound app
# secrets with no value, the secret is in no plan and no state.
#
# scripts/demo.sh (make demo) runs exactly this and prints the audit log.

terraform {
  required_version = ">= 1.11"
  required_providers {
    apphost = {
      source = "apphost/apphost"
    }
  }
}

variable "store_path" {
  description = "The embedded backend's database file."
  type        = string
  default     = ".apphost/apphost.db"
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

# Two apps authenticate with the siem key, one with the backup key.
resource "apphost_app" "app" {
  for_each = {
    "siem-forwarder-east" = "apphost-east"
    "siem-forwarder-west" = "apphost-west"
    "backup-agent"        = "apphost-east"
  }
  name     = each.key
  app_host = each.value
  version  = "1.0.0"
}

locals {
  keys = {
    siem   = apphost_api_key_account.siem
    backup = apphost_api_key_account.backup
  }
  # The key each app authenticates with.
  key_of_app = {
    "siem-forwarder-east" = "siem"
    "siem-forwarder-west" = "siem"
    "backup-agent"        = "backup"
  }
}

# Each app's copy of its key's secret, bound to the key and with no value:
# the backend fills it when the binding is created and reseals it at every
# rotation of the key, in the rotation's own transaction. A rotation plans
# no change here.
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
