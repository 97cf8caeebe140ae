# An API key account is imported by its ID (or by its name). The secret cannot
# be read back: it is null in state (and stays so with expose_secret = false).
# The app secrets bound to the key need no value to be rotated with it.
terraform import apphost_api_key_account.siem 7f6c2a9e-3b1d-4c55-9a8e-2f0d1e4b6a10
