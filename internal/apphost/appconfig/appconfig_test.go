package appconfig_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/appconfig"
)

func TestRenderParseRoundTrip(t *testing.T) {
	in := map[string]string{
		"url":             "https://siem.example:8443/in?a=b",
		"empty":           "",
		"spaced":          "  two leading spaces, a trailing one ",
		"siem":            "$siem",
		"siem_api_key_id": "0b7e-id",
		"unicode key é":   "välue",
	}
	b, err := appconfig.Render(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nsiem = $siem\nsiem_api_key_id = 0b7e-id\n") {
		t.Errorf("not SOAR's key = value lines, sorted:\n%s", b)
	}
	out, err := appconfig.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(in, out) {
		t.Errorf("round trip:\n in  %q\n out %q", in, out)
	}
	if got := appconfig.Bound(out); !maps.Equal(got, map[string]string{"siem": "0b7e-id"}) {
		t.Errorf("Bound = %v", got)
	}
}

func TestRenderRefusesWhatALineCannotHold(t *testing.T) {
	for _, m := range []map[string]string{
		{"a": "line\nbreak"},
		{"a": "carriage\rreturn"},
		{"a=b": "x"},
		{"": "x"},
		{" a": "x"},
		{"#a": "x"},
		{"a\nb": "x"},
	} {
		if _, err := appconfig.Render(m); err == nil {
			t.Errorf("Render(%q): no error", m)
		}
	}
}

func TestParse(t *testing.T) {
	got, err := appconfig.Parse([]byte("# comment\n\n  key =value\r\nother= v = w\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"key": "value", "other": "v = w"}; !maps.Equal(got, want) {
		t.Errorf("Parse = %q, want %q", got, want)
	}
	for _, bad := range []string{"no equals sign\n", " = value\n", "a = 1\na = 2\n"} {
		if _, err := appconfig.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}
