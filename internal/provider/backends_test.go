package provider

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/hashicorp/terraform-plugin-log/tflogtest"
)

// The HTTP client logs from many goroutines through one logger; under
// Terraform's parallel calls that crashed the provider with concurrent map
// writes inside tflog's masking; without the mutex this test crashes the same way.
func TestTflogLoggerConcurrent(t *testing.T) {
	var out syncBuffer
	ctx := tflog.SetField(tflogtest.RootLogger(context.Background(), &out), "tf_req_id", "req")
	// Configure masks the admin secret everywhere: tflog then rewrites every
	// string field of the context on each log call.
	ctx = tflog.MaskAllFieldValuesStrings(ctx, "s3cr3t")
	l := &tflogLogger{ctx: maskSecrets(ctx)}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				l.Debug("performing request", "method", "GET", "url", "http://127.0.0.1/v1/accounts", "secret", "s3cr3t")
			}
		}()
	}
	wg.Wait()
	if out.contains("s3cr3t") {
		t.Error("a field named secret was logged unmasked")
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(string(b.buf), s)
}
