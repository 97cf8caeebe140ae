// Package e2e holds tests that drive the real Terraform CLI against the
// provider binary built with go build, the way a user runs it: a private CLI
// configuration with dev_overrides for apphost/apphost, no registry and no
// terraform init. They cover the adoption of an existing backend (import
// blocks, generated configuration, an empty plan) and check that every
// example folder is formatted and valid against the provider's schema.
//
// The tests skip when neither terraform nor tofu is on PATH (or named by
// TF_ACC_TERRAFORM_PATH).
package e2e
