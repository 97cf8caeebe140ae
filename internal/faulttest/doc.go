// Package faulttest holds the fault-injection tests of a rotation through the
// real Terraform CLI: the provider binary is built once, each test writes a
// configuration into its own directory and runs terraform against the binary
// through dev_overrides (no registry, no terraform init), and faults are
// injected from outside: SIGKILL of the provider plugin at chosen points of
// the audit log, two applies on one embedded store at once, and HTTP faults
// between the provider and a real `serve` process (testutil/faultproxy).
//
// The tests run only with TF_ACC set (make test sets it); the package has no
// code outside its tests.
package faulttest
