# terraform test for the module above (run "terraform test", or "tofu test",
# in its directory). The provider block gives the tests a store of their own:
# an embedded backend in .apphost/test.db under the directory the tests run
# in, apart from the .apphost/apphost.db that plan and apply use there. The
# tests destroy what they create when they end, so the store can be reused;
# remove .apphost/test.db* to start from an empty one.
#
# An earlier run's outputs (run.create.secret_version) are read in a run's
# variables block and compared in its asserts as var.*: OpenTofu resolves
# run.* references only there, Terraform anywhere.
provider "apphost" {
  store_path = ".apphost/test.db"
}

# Create the key, the app and its bound secret.
run "create" {
  assert {
    condition     = apphost_api_key_account.siem.secret_version == 1
    error_message = "a new key has secret_version 1"
  }
  assert {
    condition     = apphost_api_key_account.siem.secret == null
    error_message = "with expose_secret = false the key's secret is in no state"
  }
  assert {
    condition     = apphost_app.forwarder.status == "running"
    error_message = "the app runs, logged in with the secret the backend filled"
  }
}

# Change a rotation trigger: the key rotates in place.
run "rotate" {
  variables {
    quarter = "2027-Q1"
    # What the create run left, for the asserts below.
    created_secret_version = run.create.secret_version
    created_key_id         = run.create.key_id
  }
  assert {
    condition     = apphost_api_key_account.siem.secret_version == var.created_secret_version + 1
    error_message = "the rotation raises secret_version by one"
  }
  assert {
    condition     = apphost_api_key_account.siem.id == var.created_key_id
    error_message = "a rotation keeps the key's ID"
  }
  assert {
    condition     = !apphost_api_key_account.siem.locked && apphost_api_key_account.siem.failed_login_attempts == 0
    error_message = "the app logged in with the new secret: no failed login, no lock"
  }
}

# A plan with the same trigger rotates nothing.
run "no_rotation" {
  command = plan
  variables {
    quarter                = "2027-Q1"
    rotated_secret_version = run.rotate.secret_version
  }
  assert {
    condition     = apphost_api_key_account.siem.secret_version == var.rotated_secret_version
    error_message = "a plan that is not a rotation keeps secret_version"
  }
}
