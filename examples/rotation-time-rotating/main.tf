# Rotate a key on a schedule with hashicorp/time: time_rotating is replaced
# once rotation_days have passed, its new ID changes the key's
# rotation_triggers, and the next apply rotates the key in one backend
# operation: undeploy the apps bound to it, regenerate the secret, seal the
# new one into their app secrets and deploy them again.
#
# This example needs the hashicorp/time provider from the registry
# (terraform init). The provider's example tests validate it with time_rotating
# standing in as terraform_data, since the registry cannot be reached there.

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

  # A new time_rotating ID rotates the secret. Add more keys to rotate
  # by hand too: rotation_triggers = { schedule = ..., manual = "1" }.
  rotation_triggers = {
    schedule = time_rotating.siem.id
  }

  # The secret never leaves the backend: it is in no plan and no state.
  expose_secret = false
}

resource "apphost_app" "forwarder" {
  name     = "siem-forwarder"
  app_host = "apphost-east"
}

# Bound, with no value: the backend fills this secret and reseals it at
# every rotation of the key, so a rotation plans no change here.
resource "apphost_app_secret" "forwarder" {
  app_id             = apphost_app.forwarder.id
  name               = apphost_api_key_account.siem.name
  api_key_account_id = apphost_api_key_account.siem.id
}
