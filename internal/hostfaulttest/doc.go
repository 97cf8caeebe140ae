// Package hostfaulttest holds the fault tests of rotations across real App
// Hosts (issue 19): every part is a real process. `serve` runs on a SQLite
// file, or as two replicas on PostgreSQL; App Hosts (`host --driver exec`)
// run example apps (`example-app`) as processes, in network namespaces
// where a case is about the network (testutil/netns); the rotations are
// applies of the real Terraform CLI with the provider against the remote
// `serve` endpoint. Faults are injected from outside: SIGSTOP, SIGKILL,
// a link taken down, a server restarted, an app that will not start.
//
// Each case ends where issue 19 says it must: every app meant to run
// running, one process per app, no failed login but a broken app's own,
// the key rotated once or not at all, and an empty plan after the next
// apply.
//
// The tests run only with TF_ACC set (make test sets it), on Linux; the
// network cases need root (CI sets APPHOST_REQUIRE_NETNS=1) and the replica
// case PostgreSQL (APPHOST_TEST_POSTGRES_DSN). The package has no code
// outside its tests.
package hostfaulttest
