// Package attacktest holds the tests of the server under attack, misuse and
// several replicas (issue 11): each drives the real terraform-provider-apphost
// binary (serve, recover-admin, audit, accounts, login) on loopback, on
// SQLite and, when APPHOST_TEST_POSTGRES_DSN is set, PostgreSQL. Every test
// is bounded in requests and time. The package has no production code.
package attacktest
