package provider

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/apiversion"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
	"github.com/apphost/terraform-provider-apphost/internal/embedded"
)

// Opening the two backends: the embedded one over a SQLite file, and the
// HTTP client of a remote server.

// openedEmbedded caches the embedded backends opened by this process, by absolute
// store path. Configure runs many times in one process (tests, several
// provider blocks), and they must share one open store. They are never closed.
var openedEmbedded = struct {
	sync.Mutex
	m map[string]backend.Backend
}{m: map[string]backend.Backend{}}

// embeddedBackend returns the embedded backend over the SQLite file at
// storePath, opening it on first use; created says that the file did not
// exist and this call made it, empty.
func embeddedBackend(ctx context.Context, storePath string) (b backend.Backend, created bool, err error) {
	abs, err := filepath.Abs(storePath)
	if err != nil {
		return nil, false, err
	}
	openedEmbedded.Lock()
	defer openedEmbedded.Unlock()
	if b, ok := openedEmbedded.m[abs]; ok {
		return b, false, nil
	}
	_, statErr := os.Stat(abs)
	tflog.Debug(ctx, "Opening embedded apphost backend", map[string]any{"store_path": abs})
	svc, err := embedded.Open(ctx, embedded.Config{Store: "sqlite:" + abs})
	if err != nil {
		return nil, false, err
	}
	openedEmbedded.m[abs] = svc
	return svc, errors.Is(statErr, fs.ErrNotExist), nil
}

// checkTimeout bounds Configure's one request to a remote server: an
// endpoint that accepts connections and never answers must not hold every
// plan for the client's per-call timeout (minutes, for a regenerate).
const checkTimeout = 10 * time.Second

// remoteBackend builds the HTTP client of a remote server from cfg (whose
// Logger it sets) and checks the server once: reachable within
// checkTimeout, new enough, credentials right. A plan against a bad backend
// fails here, before anything is planned.
func remoteBackend(ctx context.Context, cfg client.Config) (*client.Client, *apiversion.Info, error) {
	cfg.Logger = &tflogLogger{ctx: maskSecrets(ctx)}
	c, err := client.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	info, err := c.CheckServer(ctx, apiversion.MinForRotation, checkTimeout)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return c, info, nil
}

// tflogLogger routes the HTTP client's request and retry logs to tflog.
//
// The HTTP client's logger has no per-request context, so every request logs
// through the one context built in Configure. tflog's masking rewrites that
// context's field maps in place, which crashes the provider ("concurrent map
// writes") when Terraform's parallel calls log at once: hence the mutex.
type tflogLogger struct {
	mu  sync.Mutex
	ctx context.Context
}

func fields(kv []any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			m[k] = kv[i+1]
		}
	}
	return m
}

func (l *tflogLogger) log(write func(context.Context, string, ...map[string]any), msg string, kv []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	write(l.ctx, msg, fields(kv))
}

func (l *tflogLogger) Error(msg string, kv ...any) { l.log(tflog.Error, msg, kv) }
func (l *tflogLogger) Info(msg string, kv ...any)  { l.log(tflog.Info, msg, kv) }
func (l *tflogLogger) Debug(msg string, kv ...any) { l.log(tflog.Debug, msg, kv) }
func (l *tflogLogger) Warn(msg string, kv ...any)  { l.log(tflog.Warn, msg, kv) }
