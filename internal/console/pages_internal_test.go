package console

import "testing"

func TestDetailField(t *testing.T) {
	for _, c := range []struct{ detail, name, want string }{
		{"app_host=default, version=1.4.2, downtime_ms=0.412", "downtime_ms", "0.412"},
		{"app_host=default, version=1.4.2", "downtime_ms", ""},
		{`app_host=default, version="1, downtime_ms=987654.321", downtime_ms=0.412`, "downtime_ms", "0.412"},
		{`app_host=default, version="1, downtime_ms=987654.321"`, "downtime_ms", ""},
		{`app_host=default, version="1, downtime_ms=987654.321"`, "version", "1, downtime_ms=987654.321"},
		// Written before versions were quoted: the domain's own field is last.
		{"app_host=default, version=1, downtime_ms=987654.321, downtime_ms=0.412", "downtime_ms", "0.412"},
		{"secret_version=7, expose_secret=false", "secret_version", "7"},
		{`version="unterminated, downtime_ms=5`, "downtime_ms", ""},
	} {
		if got := detailField(c.detail, c.name); got != c.want {
			t.Errorf("detailField(%q, %q) = %q, want %q", c.detail, c.name, got, c.want)
		}
	}
}
