package provider

import (
	"context"
	"sync"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// newRemoteBackend builds the backend of a remote admin server from the
// resolved provider configuration: the HTTP client, built once in Configure.
func newRemoteBackend(ctx context.Context, cfg remoteConfig) (*client.Client, error) {
	return client.New(client.Config{
		Endpoint:           cfg.Endpoint,
		APIKeyID:           cfg.APIKeyID,
		APIKeySecret:       cfg.APIKeySecret,
		CAFile:             cfg.CAFile,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		UserAgent:          cfg.UserAgent,
		Logger:             &tflogLogger{ctx: maskSecrets(ctx)},
	})
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
