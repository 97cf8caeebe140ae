//go:build !unix

package apphost

// lockDir does nothing where flock is unknown (the exec driver, which
// locks its directory itself, runs on Linux only).
func lockDir(string) (func(), error) { return func() {}, nil }
