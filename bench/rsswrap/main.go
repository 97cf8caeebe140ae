// Command rsswrap runs a program and records its peak resident set size. The
// benchmark installs it as terraform-provider-apphost in a dev_overrides
// directory, so that Terraform starts it in place of the provider; it starts
// the provider ($BENCH_RSS_TARGET) with the same arguments, standard streams
// and environment (the plugin handshake passes straight through), waits for
// it, and appends "PID MAXRSS_KB" to $BENCH_RSS_LOG.
//
// The cost is one extra exec of a small program per provider start.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	target := os.Getenv("BENCH_RSS_TARGET")
	if target == "" {
		fmt.Fprintln(os.Stderr, "rsswrap: BENCH_RSS_TARGET is not set")
		os.Exit(2)
	}
	cmd := exec.Command(target, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "rsswrap: %v\n", err)
		os.Exit(2)
	}
	go func() {
		for s := range sig {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()

	if path := os.Getenv("BENCH_RSS_LOG"); path != "" && cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			if f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); ferr == nil {
				// Linux reports ru_maxrss in kilobytes.
				_, _ = fmt.Fprintf(f, "%d %d\n", cmd.Process.Pid, ru.Maxrss)
				_ = f.Close()
			}
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			os.Exit(code)
		}
		os.Exit(1)
	}
	if err != nil {
		os.Exit(1)
	}
}
