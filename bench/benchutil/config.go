package benchutil

import "fmt"

// RotationConfig is the apphost graph every benchmark rotates, in the
// recommended pattern: N keys with expose_secret = false, N apps, N app
// secrets, secret i of app i bound to key i with no value (the backend fills
// it and rotates it with the key). var.rotation is every key's rotation
// trigger, so a new value rotates every key in one apply (N in-place
// updates, one RegenerateSecret each). The provider block is empty: the
// environment picks the backend. With AppsPerKey > 1, app i is bound to
// key i / AppsPerKey (N/AppsPerKey keys, rounded up).
type RotationConfig struct {
	N          int
	AppsPerKey int
	// KeyName and AppName are HCL expressions of count.index.
	KeyName, AppName string
	// KeyAttributes and AppAttributes are more lines of each key and each
	// app ("  name = value\n").
	KeyAttributes, AppAttributes string
	SecretName                   string
}

// Keys is how many keys the configuration has.
func (c RotationConfig) Keys() int {
	per := max(c.AppsPerKey, 1)
	return (c.N + per - 1) / per
}

// HCL is the configuration's text.
func (c RotationConfig) HCL() string {
	return fmt.Sprintf(`terraform {
  required_providers {
    apphost = {
      source = "apphost/apphost"
    }
  }
}

variable "rotation" {
  type = string
}

provider "apphost" {}

resource "apphost_api_key_account" "k" {
  count             = %[6]d
  name              = %[2]s
  rotation_triggers = { round = var.rotation }
  expose_secret     = false
%[7]s}

resource "apphost_app" "a" {
  count = %[1]d
  name  = %[3]s
%[4]s}

resource "apphost_app_secret" "s" {
  count              = %[1]d
  app_id             = apphost_app.a[count.index].id
  name               = %[5]q
  api_key_account_id = apphost_api_key_account.k[floor(count.index / %[8]d)].id
}
`, c.N, c.KeyName, c.AppName, c.AppAttributes, c.SecretName, c.Keys(), c.KeyAttributes, max(c.AppsPerKey, 1))
}
