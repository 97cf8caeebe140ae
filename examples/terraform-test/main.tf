# A module tested with terraform test (see tests/rotation.tftest.hcl and the
# guide "Testing with terraform test"):
#
#   terraform test
#
# The tests give the provider a store of its own (store_path), so they never
# touch the backend that plan and apply use in this directory.

terraform {
  required_version = ">= 1.11"
  required_providers {
    apphost = {
      source = "apphost/apphost"
    }
  }
}

variable "quarter" {
  description = "Rotation trigger of the key: change it to rotate the secret."
  type        = string
  default     = "2026-Q4"
}

resource "apphost_api_key_account" "siem" {
  name              = "siem-forwarder"
  rotation_triggers = { quarter = var.quarter }
  expose_secret     = false
}

resource "apphost_app" "forwarder" {
  name     = "siem-forwarder"
  app_host = "apphost-east"
}

resource "apphost_app_secret" "forwarder" {
  app_id             = apphost_app.forwarder.id
  name               = "api-key"
  api_key_account_id = apphost_api_key_account.siem.id
}

output "key_id" {
  description = "The key's ID: the same before and after a rotation."
  value       = apphost_api_key_account.siem.id
}

output "secret_version" {
  description = "1 at create, + 1 at each rotation."
  value       = apphost_api_key_account.siem.secret_version
}
