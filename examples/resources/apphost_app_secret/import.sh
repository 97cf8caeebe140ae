# An app secret is imported by "APP_ID/NAME" (or "APP_NAME/NAME"). Its value
# cannot be read back, and a bound secret needs none: with no value in the
# configuration the plan after the import is empty, and the backend keeps
# filling the secret at every rotation of its key.
terraform import apphost_app_secret.forwarder 0b9e4f7a-52c3-4d8e-8a61-c2f7e93d4b25/siem-forwarder
