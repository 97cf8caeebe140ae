// Package exec is the App Host's exec driver: it runs each app as a process
// in its own process group, in DIR/apps/NAME, with the app's app.config and
// secret files beside it, an environment of exactly the App Host variables,
// and its output in a bounded log. An app that exits is restarted with a
// backoff; one that keeps exiting is failed. The processes outlive a killed
// App Host, whose next process in DIR adopts them (or stops them) before it
// starts anything: never two processes of one app.
//
// Files in DIR/apps/NAME: app.config; secrets/NAME (0600, replaced
// atomically, removed when the app stops or the secret goes); log and log.1
// (stdout and stderr); pid (the running process: PID, process group and
// start time). DIR and every directory below it are 0700.
//
// Linux only: it reads /proc to tell a process from a later one with the
// same PID and to find what is left of a process group.
package exec
