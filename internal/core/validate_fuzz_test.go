package core

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// FuzzValidateName: an accepted name is non-empty, within MaxNameLength, and
// safe everywhere names go: a URL path segment as is, a file name, a log
// line, and the APP/SECRET form of audit targets. A refusal is a CodeInvalid
// naming the field.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"siem-forwarder", "a", "A.b_c-9", "", "-x", ".hidden", "..", "a/b", "a b", "é", "a\x00",
		"a\n", strings.Repeat("x", backend.MaxNameLength), strings.Repeat("x", backend.MaxNameLength+1), "%2F", "a\u202eb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := backend.ValidateName("name", s)
		if err != nil {
			var e *backend.Error
			if !errors.As(err, &e) || e.Code != backend.CodeInvalid || e.Field != "name" {
				t.Fatalf("backend.ValidateName(%q) = %#v, want a CodeInvalid on field name", s, err)
			}
			return
		}
		switch {
		case s == "" || len(s) > backend.MaxNameLength:
			t.Fatalf("validateName accepted %q (length %d)", s, len(s))
		case url.PathEscape(s) != s:
			t.Fatalf("validateName accepted %q, which a URL path must escape", s)
		case strings.ContainsAny(s, "/\\ ") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-"):
			t.Fatalf("validateName accepted %q", s)
		case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsControl(r) }):
			t.Fatalf("validateName accepted %q, which is not plain ASCII", s)
		}
	})
}

// FuzzValidateConfig: config maps built from arbitrary bytes (entries split
// on '\n', key and value on '='). An accepted map has at most
// MaxConfigEntries entries, no empty key, and keys and values that are
// UTF-8 within MaxConfigValueLength. A refusal is CodeInvalid on "config"
// and never echoes a value longer than a key could be.
func FuzzValidateConfig(f *testing.F) {
	f.Add([]byte("log_level=debug\nregion=eu"), uint16(0))
	f.Add([]byte("=v"), uint16(0))
	f.Add([]byte("k=\xff"), uint16(0))
	f.Add([]byte("\xfe=v"), uint16(0))
	f.Add([]byte("k="+strings.Repeat("v", backend.MaxConfigValueLength+1)), uint16(0))
	f.Add([]byte("k=v"), uint16(backend.MaxConfigEntries))
	f.Add([]byte(""), uint16(backend.MaxConfigEntries+1))
	f.Fuzz(func(t *testing.T, data []byte, extra uint16) {
		cfg := map[string]string{}
		for line := range strings.SplitSeq(string(data), "\n") {
			k, v, _ := strings.Cut(line, "=")
			cfg[k] = v
		}
		// Pad with distinct entries to reach the entry limit cheaply.
		for i := range int(extra % 1024) {
			cfg["pad"+strconv.Itoa(i)] = "x"
		}
		err := validateConfig(cfg)
		if err != nil {
			var e *backend.Error
			if !errors.As(err, &e) || e.Code != backend.CodeInvalid || e.Field != "config" {
				t.Fatalf("validateConfig = %#v, want a CodeInvalid on field config", err)
			}
			for k, v := range cfg {
				if len(v) > backend.MaxConfigValueLength && strings.Contains(e.Message, v) {
					t.Fatalf("the error echoes an oversized value of %q", k)
				}
			}
			return
		}
		if len(cfg) > backend.MaxConfigEntries {
			t.Fatalf("accepted %d entries", len(cfg))
		}
		for k, v := range cfg {
			if k == "" || len(k) > backend.MaxConfigValueLength || len(v) > backend.MaxConfigValueLength || !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("accepted entry %q=%q", k, v)
			}
		}
	})
}
