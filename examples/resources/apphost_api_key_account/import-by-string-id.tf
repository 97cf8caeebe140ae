import {
  to = apphost_api_key_account.siem
  id = "7f6c2a9e-3b1d-4c55-9a8e-2f0d1e4b6a10"
}
