# Locked accounts: each one stops every app bound to it until it is rotated.
data "apphost_api_key_accounts" "locked" {
  locked = true
}

# Keys of the log shippers whose secret is older than 90 days.
data "apphost_api_key_accounts" "stale" {
  name_regex = "^siem-"
  older_than = "2160h"
}

output "locked_keys" {
  value = { for a in data.apphost_api_key_accounts.locked.accounts : a.name => a.apps }
}
