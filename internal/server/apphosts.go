package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/hostapi"
)

// maxDesiredWait bounds a long poll of the desired state, well within the
// server's write timeout.
const maxDesiredWait = 30 * time.Second

// hostRoute is one route of the App Host protocol.
type hostRoute struct {
	method, path string
	h            func(s *server, w http.ResponseWriter, r *http.Request) error
}

// hostEndpoint wraps a protocol route: Basic auth as the App Host account
// of {name} (any other account gets 403), over TLS unless from loopback
// (the host's secrets travel in these answers).
func (s *server) hostEndpoint(rt hostRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := cleanRequest(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if r.TLS == nil && !fromLoopback(r) {
			s.writeError(w, r, &apiError{status: http.StatusForbidden, err: backend.Errorf(backend.CodeForbidden,
				"App Hosts connect over HTTPS: this server refuses a plain http:// App Host connection from anywhere but "+
					"loopback. Serve with --tls-cert and --tls-key, and give the App Host the https:// endpoint and --ca-file")})
			return
		}
		ctx, acct, err := s.authenticateAccount(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if acct.AppHost == "" || acct.AppHost != r.PathValue("name") {
			s.writeError(w, r, &apiError{status: http.StatusForbidden, err: backend.Errorf(backend.CodeForbidden,
				"API key account %q is not the App Host account of %q", acct.Name, r.PathValue("name"))})
			return
		}
		if err := rt.h(s, w, r.WithContext(core.WithActor(ctx, acct.AppHost))); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// fromLoopback reports whether the request's TCP peer is on loopback.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (s *server) openSession(w http.ResponseWriter, r *http.Request) error {
	var req hostapi.SessionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	sess, err := s.hosts.OpenAppHostSession(r.Context(), r.PathValue("name"), r.RemoteAddr, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sess)
	return nil
}

func (s *server) desired(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := checkQuery(q, "session", "after", "wait_ms"); err != nil {
		return err
	}
	after, err := intQuery(q, "after")
	if err != nil {
		return err
	}
	waitMS, err := intQuery(q, "wait_ms")
	if err != nil {
		return err
	}
	wait := min(time.Duration(waitMS)*time.Millisecond, maxDesiredWait)
	// A server that shuts down answers at once, with what there is: the
	// host polls again, at this server's successor or another replica.
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	if s.drain != nil {
		go func() {
			select {
			case <-s.drain:
				stop()
			case <-ctx.Done():
			}
		}()
	}
	d, err := s.hosts.AppHostDesired(ctx, r.PathValue("name"), q.Get("session"), after, wait)
	if err != nil && ctx.Err() != nil && r.Context().Err() == nil {
		d, err = s.hosts.AppHostDesired(r.Context(), r.PathValue("name"), q.Get("session"), after, 0)
	}
	if err != nil {
		return err
	}
	// The answer carries the host's secrets: never cached anywhere.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *server) report(w http.ResponseWriter, r *http.Request) error {
	var rep hostapi.Report
	if err := decodeJSON(r, &rep, false); err != nil {
		return err
	}
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	a, err := s.hosts.ReportAppHost(r.Context(), r.PathValue("name"), rep)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *server) listAppHosts(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	list, err := s.b.ListAppHosts(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"app_hosts": list})
	return nil
}

func (s *server) forgetAppHost(w http.ResponseWriter, r *http.Request) error {
	if err := decodeJSON(r, &struct{}{}, true); err != nil {
		return err
	}
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	if s.hosts == nil {
		return backend.Errorf(backend.CodeNotFound, "this backend has no App Hosts to forget")
	}
	if err := s.hosts.ForgetAppHost(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
