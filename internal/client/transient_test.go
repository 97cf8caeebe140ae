package client

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
)

// TestTransientByType: transport errors are told apart by their types, never
// by their text: a plain error that reads like a refused connection is not
// one, and one wrapped the way net/http wraps it is.
func TestTransientByType(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1/version", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"reset", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"a bare errno", wrap(fmt.Errorf("writing: %w", syscall.EPIPE)), true},
		{"closed mid-answer", wrap(fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", io.ErrUnexpectedEOF)), true},
		{"closed before the answer", wrap(io.EOF), true},
		{"name not resolved", wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x", IsTemporary: true}}), true},
		{"text that reads like a refused connection", wrap(errors.New("dial tcp: connect: connection refused")), false},
		{"unknown certificate authority", wrap(x509.UnknownAuthorityError{}), false},
		{"plain HTTP answer to TLS", wrap(http.ErrSchemeMismatch), false},
		{"redirect loop", wrap(errTooManyRedirects), false},
		{"unsupported scheme after a redirect", wrap(errors.New(`unsupported protocol scheme "ftp"`)), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("%s: transient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
