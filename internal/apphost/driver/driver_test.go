package driver_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/apphost/driver"
)

func validSpec() driver.Spec {
	return driver.Spec{
		Name:    "forwarder",
		Command: []string{"app"},
		Config:  map[string]string{"url": "https://siem"},
		Secrets: []driver.Secret{
			{Name: "siem", Value: "TOPSECRET-1", AccountID: "acct-1"},
			{Name: "opaque", Value: "TOPSECRET-2"},
		},
		ReloadSignal: "SIGHUP",
		Generation:   3,
		AppToken:     "TOPSECRET-TOKEN",
	}
}

func TestValidate(t *testing.T) {
	if err := validSpec().Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	cases := map[string]func(*driver.Spec){
		"bad name":           func(s *driver.Spec) { s.Name = "../x" },
		"empty name":         func(s *driver.Spec) { s.Name = "" },
		"bad secret name":    func(s *driver.Spec) { s.Secrets[0].Name = "a/b" },
		"duplicate secret":   func(s *driver.Spec) { s.Secrets[1].Name = "siem" },
		"empty secret":       func(s *driver.Spec) { s.Secrets[1].Value = "" },
		"account ID newline": func(s *driver.Spec) { s.Secrets[0].AccountID = "a\nb" },
		"config newline":     func(s *driver.Spec) { s.Config["url"] = "a\nb" },
		"config key =":       func(s *driver.Spec) { s.Config["a=b"] = "x" },
		"config takes secret line": func(s *driver.Spec) {
			s.Config["opaque"] = "x"
		},
		"config takes key ID line": func(s *driver.Spec) {
			s.Config["siem_api_key_id"] = "x"
		},
		"unknown signal":   func(s *driver.Spec) { s.ReloadSignal = "SIGKILL" },
		"negative timeout": func(s *driver.Spec) { s.StopTimeout = -time.Second },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			s.Config = maps.Clone(s.Config)
			s.Secrets = append([]driver.Secret(nil), s.Secrets...)
			mutate(&s)
			err := s.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	want := map[string]string{"url": "https://siem", "siem": "$siem", "siem_api_key_id": "acct-1", "opaque": "$opaque"}
	if got := validSpec().Settings(); !maps.Equal(got, want) {
		t.Errorf("Settings = %v, want %v", got, want)
	}
}

// No way of printing a Spec or a Secret shows a secret or the token.
func TestPrintingShowsNoSecret(t *testing.T) {
	s := validSpec()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{s, &s, s.Secrets, s.Secrets[0], []driver.Spec{s}} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, "TOPSECRET") {
				t.Errorf("%s of %T shows a secret: %s", verb, v, out)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	var s driver.Spec
	if s.StopTimeoutOrDefault() != driver.DefaultStopTimeout || s.StartTimeoutOrDefault() != driver.DefaultStartTimeout {
		t.Errorf("defaults: %v %v", s.StopTimeoutOrDefault(), s.StartTimeoutOrDefault())
	}
}
