package server

import (
	"net/http"

	"github.com/apphost/terraform-provider-apphost/internal/apiversion"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

// version answers GET /v1/version: the binary's version and the API version,
// which the provider checks before it plans anything. It needs no
// credentials; Basic credentials that come with it are checked as on any
// admin call (401, 403, 429), so one request tells a client whether the
// server is reachable, new enough, and takes its credentials.
func (s *server) version(w http.ResponseWriter, r *http.Request) error {
	info := apiversion.Info{Version: s.ver, APIVersion: apiversion.Current}
	if _, _, ok := r.BasicAuth(); ok {
		ctx, err := s.authenticate(w, r)
		if err != nil {
			return err
		}
		info.APIKeyAccount = core.ActorFrom(ctx)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}
