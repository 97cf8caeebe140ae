package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/client"
)

// newRemoteBackend builds the backend of a remote admin server from the
// resolved provider configuration: the HTTP client, built once in Configure.
func newRemoteBackend(ctx context.Context, cfg remoteConfig) (backend.Backend, error) {
	return client.New(client.Config{
		Endpoint:           cfg.Endpoint,
		APIKeyID:           cfg.APIKeyID,
		APIKeySecret:       cfg.APIKeySecret,
		CAFile:             cfg.CAFile,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		UserAgent:          cfg.UserAgent,
		Logger:             tflogLogger{ctx: maskSecrets(ctx)},
	})
}

// tflogLogger routes the HTTP client's request and retry logs to tflog.
type tflogLogger struct{ ctx context.Context }

func fields(kv []any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			m[k] = kv[i+1]
		}
	}
	return m
}

func (l tflogLogger) Error(msg string, kv ...any) { tflog.Error(l.ctx, msg, fields(kv)) }
func (l tflogLogger) Info(msg string, kv ...any)  { tflog.Info(l.ctx, msg, fields(kv)) }
func (l tflogLogger) Debug(msg string, kv ...any) { tflog.Debug(l.ctx, msg, fields(kv)) }
func (l tflogLogger) Warn(msg string, kv ...any)  { tflog.Warn(l.ctx, msg, fields(kv)) }
