package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestRules: Nth and Times pick which matching requests fail; other methods
// and paths pass; every fault is counted.
func TestRules(t *testing.T) {
	var served int
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served++
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	p, err := New(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	p.Add(Rule{Method: "POST", Path: "/v1/x/*", Nth: 2, Times: 2, Kind: Status, Status: 500})
	p.Add(Rule{Method: "GET", Path: "/v1/reset", Kind: Reset})
	p.Add(Rule{Method: "GET", Path: "/v1/drop", Kind: DropResponse})
	front := httptest.NewServer(p)
	defer front.Close()

	var codes []int
	for range 5 {
		resp, err := http.Post(front.URL+"/v1/x/1", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if want := []int{200, 500, 500, 200, 200}; !slices.Equal(codes, want) {
		t.Errorf("statuses %v, want %v", codes, want)
	}
	if _, err := http.Get(front.URL + "/v1/reset"); err == nil {
		t.Error("no error through a reset")
	}
	before := served
	if _, err := http.Get(front.URL + "/v1/drop"); err == nil {
		t.Error("no error through a dropped response")
	}
	if served != before+1 {
		t.Error("a dropped response was not served first")
	}
	if n := len(p.Faults()); n != 4 {
		t.Errorf("%d faults, want 4: %v", n, p.Faults())
	}
	if n := len(p.Requests("POST", "/v1/x/*")); n != 5 {
		t.Errorf("%d POST requests recorded, want 5", n)
	}
}
