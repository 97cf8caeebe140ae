# An API key account is imported by its ID (or by its name). The secret cannot
# be read back: it is unknown until the next regeneration.
terraform import apphost_api_key_account.siem 7f6c2a9e-3b1d-4c55-9a8e-2f0d1e4b6a10
