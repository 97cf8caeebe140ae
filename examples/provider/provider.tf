# The embedded backend: the admin domain in-process over a SQLite file.
provider "apphost" {
  store_path = ".apphost/apphost.db"
}

# A remote admin backend (terraform-provider-apphost serve). The credentials
# are usually given as APPHOST_API_KEY_ID and APPHOST_API_KEY_SECRET.
provider "apphost" {
  alias      = "remote"
  endpoint   = "https://apphost-admin.example.com"
  api_key_id = "7f6c2a9e-3b1d-4c55-9a8e-2f0d1e4b6a10"
  ca_file    = "/etc/ssl/certs/apphost-ca.pem"
}
