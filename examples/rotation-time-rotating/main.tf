# Rotate a key on a schedule with hashicorp/time: time_rotating is replaced
# once rotation_days have passed, its new ID changes the key's
# rotation_triggers, and the next apply undeploys the apps bound to the key,
# regenerates the secret, stores the new one and deploys the apps again.
#
# This example needs the hashicorp/time provider from the registry
# (terraform init). The provider's example tests only check its format.

terraform {
  required_version = ">= 1.11"
  required_providers {
    apphost = {
      source = "apphost/apphost"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9"
    }
  }
}

provider "apphost" {}

# Replaced (new id) every 90 days, when Terraform next refreshes it.
resource "time_rotating" "siem" {
  rotation_days = 90
}

resource "apphost_api_key_account" "siem" {
  name = "siem-forwarder"

  # A new time_rotating ID regenerates the secret. Add more keys to rotate
  # by hand too: rotation_triggers = { schedule = ..., manual = "1" }.
  rotation_triggers = {
    schedule = time_rotating.siem.id
  }
}

resource "apphost_app" "forwarder" {
  name     = "siem-forwarder"
  app_host = "apphost-east"
}

# The write-only pattern: the secret is never stored in plan or state.
# value_wo_version follows secret_version, so a rotation replaces this app
# secret (undeploy before the regeneration, store and deploy after it).
resource "apphost_app_secret" "forwarder" {
  app_id             = apphost_app.forwarder.id
  name               = apphost_api_key_account.siem.name
  api_key_account_id = apphost_api_key_account.siem.id
  value_wo           = apphost_api_key_account.siem.secret
  value_wo_version   = apphost_api_key_account.siem.secret_version
}
