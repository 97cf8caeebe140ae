import {
  to = apphost_app.forwarder
  id = "0b9e4f7a-52c3-4d8e-8a61-c2f7e93d4b25"
}
