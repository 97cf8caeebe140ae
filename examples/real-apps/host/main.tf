# The App Host's identity: an API key account whose app_host is the App
# Host's name. The App Host process signs in with it. Its secret must reach
# the App Host's machine as a file only its owner may read; this
# configuration shows it as a sensitive output (scripts/demo.sh writes it to
# a 0600 file), so its state holds that secret: keep such state encrypted,
# or take the secret from your secret store instead.

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
  description = "The App Host's name."
  type        = string
  default     = "demo-host"
}

provider "apphost" {
  store_path = var.store_path
}

resource "apphost_api_key_account" "host" {
  name        = "app-host-${var.app_host}"
  description = "The identity of App Host ${var.app_host}"
  app_host    = var.app_host
}

output "host_key_id" {
  description = "APPHOST_API_KEY_ID of the App Host."
  value       = apphost_api_key_account.host.id
}

output "host_secret" {
  description = "The App Host's secret, for its --secret-file."
  value       = apphost_api_key_account.host.secret
  sensitive   = true
}
