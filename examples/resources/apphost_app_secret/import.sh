# An app secret is imported by "APP_ID/NAME" (or "APP_NAME/NAME"). Its value
# cannot be read back: without value or value_wo in the configuration the
# resource manages only the binding to the key account and leaves the stored
# value as it is.
terraform import apphost_app_secret.forwarder 0b9e4f7a-52c3-4d8e-8a61-c2f7e93d4b25/siem-forwarder
