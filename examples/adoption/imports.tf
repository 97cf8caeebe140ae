# Import blocks for every API key account, app and app secret in
#   sqlite:.apphost/apphost.db
# written by "terraform-provider-apphost accounts --import-blocks".
#
# Save this next to a provider "apphost" block that reaches the same backend
# (store_path, or endpoint and credentials) and run
#
#   terraform plan -generate-config-out=generated.tf
#
# Terraform writes the configuration of each resource to generated.tf. Review
# it, then "terraform apply" imports everything without changing the backend.
#
# Secrets cannot be read back: an imported key account has no secret in state
# and an imported app secret no value. A bound app secret needs none: the
# backend fills it and reseals it at every rotation of its key. To rotate a
# key through Terraform, give it rotation_triggers (and expose_secret = false
# to keep its secret out of Terraform): the next apply rotates it in one
# backend operation that redeploys every app bound to it.

import {
  to = apphost_api_key_account.backup_agent
  id = "2d1c8e4b-7a90-4f3e-b6d5-91c0a8e7f342"
}

import {
  to = apphost_api_key_account.siem_forwarder
  id = "7f6c2a9e-3b1d-4c55-9a8e-2f0d1e4b6a10"
}

import {
  to = apphost_app.backup_agent
  id = "5a3e9d21-c84f-4b67-a0e2-6d18f7b3c905"
}

import {
  to = apphost_app.siem_forwarder_east
  id = "0b9e4f7a-52c3-4d8e-8a61-c2f7e93d4b25"
}

import {
  to = apphost_app_secret.backup_agent_api_key
  id = "5a3e9d21-c84f-4b67-a0e2-6d18f7b3c905/api-key"
}

import {
  to = apphost_app_secret.siem_forwarder_east_api_key
  id = "0b9e4f7a-52c3-4d8e-8a61-c2f7e93d4b25/api-key"
}
