package exec

import (
	"log/slog"
	"os"
	"time"
)

// Options configure the exec driver. Zero values take the defaults below.
type Options struct {
	// Dir is the App Host's directory (DIR); app NAME runs in DIR/apps/NAME.
	Dir string
	// Endpoint is the server URL the apps are given (APPHOST_ENDPOINT).
	Endpoint string
	// CAFile, when set, is given to the apps as APPHOST_CA_FILE (made
	// absolute).
	CAFile string
	// Path is the apps' PATH, and where a command without a '/' is looked
	// up (default: the App Host's PATH, else DefaultPath).
	Path string

	// MinBackoff and MaxBackoff bound the wait before an exited app is
	// restarted: MinBackoff, doubling up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a process must stay up for its exit not to
	// count toward FailAfter (and to reset the backoff).
	StableAfter time.Duration
	// FailAfter is how many exits in a row, each before StableAfter, make
	// the app failed (it is not restarted again until the next Start). Each
	// such exit may be a failed login, and failed logins with a stale secret
	// count toward the account's lockout: keep it below the lockout
	// threshold.
	FailAfter int
	// LogMaxBytes is the size past which an app's log is moved to log.1.
	LogMaxBytes int64
	// LogCheckInterval is how often the logs' sizes are checked.
	LogCheckInterval time.Duration
	// PollInterval is how often an adopted process (not a child of this
	// process, so it cannot be waited for) is checked.
	PollInterval time.Duration
	// Logger gets the driver's own messages (never a secret).
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultPath             = "/usr/local/bin:/usr/bin:/bin"
	DefaultMinBackoff       = 100 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	DefaultStableAfter      = 10 * time.Second
	DefaultFailAfter        = 3
	DefaultLogMaxBytes      = 1 << 20
	DefaultLogCheckInterval = time.Second
	DefaultPollInterval     = 200 * time.Millisecond
)

func (o Options) withDefaults() Options {
	if o.Path == "" {
		o.Path = os.Getenv("PATH")
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.StableAfter <= 0 {
		o.StableAfter = DefaultStableAfter
	}
	if o.FailAfter <= 0 {
		o.FailAfter = DefaultFailAfter
	}
	if o.LogMaxBytes <= 0 {
		o.LogMaxBytes = DefaultLogMaxBytes
	}
	if o.LogCheckInterval <= 0 {
		o.LogCheckInterval = DefaultLogCheckInterval
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
