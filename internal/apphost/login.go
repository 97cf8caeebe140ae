package apphost

import (
	"context"
	"fmt"
	"net/http"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// appLogin is the virtual driver's login: app logs in over HTTP with its
// bound secret s, saying which app it is (its name and token), as a real
// app does. A 429, a 5xx or a lost connection is tried again (the driver
// bounds it by the app's start_timeout); a refusal is the app's failure.
func (h *Host) appLogin(ctx context.Context, app driver.Spec, s driver.Secret) error {
	hdr := http.Header{}
	hdr.Set(hostapi.HeaderApp, app.Name)
	hdr.Set(hostapi.HeaderAppToken, app.AppToken)
	body := backend.LoginRequest{AccountID: s.AccountID, Secret: s.Value}
	var bo backoff
	for {
		err := h.c.do(ctx, call{method: http.MethodPost, path: "/v1/login", body: body, header: hdr})
		if err == nil {
			return nil
		}
		if !isTransient(err) || ctx.Err() != nil {
			// The server's message names no secret, nor does the error.
			return fmt.Errorf("logging in: %w", err)
		}
		if err := sleep(ctx, max(bo.next(), retryAfterOf(err))); err != nil {
			return fmt.Errorf("logging in: %w (gave up: %w)", err, context.Cause(ctx))
		}
	}
}
