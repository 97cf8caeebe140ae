# An app is imported by its ID (or by its name).
terraform import apphost_app.forwarder 0b9e4f7a-52c3-4d8e-8a61-c2f7e93d4b25
