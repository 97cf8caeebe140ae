# Adopting an existing backend: save the output of
#
#   terraform-provider-apphost accounts --store sqlite:.apphost/apphost.db --import-blocks > imports.tf
#
# next to this file (imports.tf here is such an output) and run
#
#   terraform plan -generate-config-out=generated.tf
#   terraform apply
#
# generated.tf then holds a resource block for every key account, app and
# app secret, and the next plan is empty.

terraform {
  required_version = ">= 1.11"
  required_providers {
    apphost = {
      source = "apphost/apphost"
    }
  }
}

# The same backend the import blocks were written from: the embedded store,
# or a remote one with endpoint (and APPHOST_API_KEY_ID/_SECRET).
provider "apphost" {
  store_path = ".apphost/apphost.db"
}
