package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// JSONErrors wraps a listener so that the answers net/http writes itself,
// before any handler runs (400 for a malformed request, 431 for headers past
// MaxHeaderBytes), are JSON errors like every other answer instead of plain
// text. For TLS, wrap the listener tls.NewListener returns, serve it with
// Serve, and set the http.Server's ConnContext to ConnContext: the wrapper
// hides the *tls.Conn from net/http (so the server speaks HTTP/1.1 only, and
// net/http leaves Request.TLS nil), and ConnContext is how the handler still
// sees that the request came over TLS (Secure cookies, HSTS, the origin of a
// browser's form).
func JSONErrors(ln net.Listener) net.Listener { return &jsonErrorListener{ln} }

type tlsConnKey struct{}

// ConnContext is the http.Server's ConnContext for a listener that JSONErrors
// wraps: it keeps the TLS connection under the wrapper for the handler.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if jc, ok := c.(*jsonErrorConn); ok {
		if tc, ok := jc.Conn.(*tls.Conn); ok {
			return context.WithValue(ctx, tlsConnKey{}, tc)
		}
	}
	return ctx
}

// restoreTLS sets r.TLS when r came over a TLS connection that JSONErrors
// hid from net/http (see ConnContext). r must be the server's own copy of
// the request (from WithContext).
func restoreTLS(r *http.Request) {
	if r.TLS != nil {
		return
	}
	if tc, ok := r.Context().Value(tlsConnKey{}).(*tls.Conn); ok {
		st := tc.ConnectionState()
		r.TLS = &st
	}
}

type jsonErrorListener struct{ net.Listener }

func (l *jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

type jsonErrorConn struct{ net.Conn }

// plainErrorMark is how net/http's own error answers look: written in one
// piece straight to the connection, as text, closing it.
var plainErrorMark = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

func (c *jsonErrorConn) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 4")) {
		return c.Conn.Write(p)
	}
	head, body, ok := bytes.Cut(p, plainErrorMark)
	if !ok || bytes.Contains(head, []byte("\r\n")) {
		return c.Conn.Write(p)
	}
	fields := strings.SplitN(string(head), " ", 3)
	status, err := strconv.Atoi(fields[1])
	if err != nil {
		return c.Conn.Write(p)
	}
	msg := strings.TrimSpace(string(body))
	if status == http.StatusRequestHeaderFieldsTooLarge {
		msg = fmt.Sprintf("request headers are larger than %d bytes", MaxHeaderBytes)
	}
	out, _ := json.Marshal(errorBody{Error: &backend.Error{Code: backend.CodeInvalid, Message: msg}})
	out = append(out, '\n')
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
		"X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n", status, http.StatusText(status), len(out))
	b.Write(out)
	if _, err := c.Conn.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
