package attacktest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backendtest"
)

// TestHardening2_1_malformedIDsCostNoMemory: 100 logins with distinct 1 MB
// "IDs" (POST /v1/login) and 100 with 48 KB ones (Basic) leave serve's
// resident memory about where it was (they grew it by 334-380 MB when the
// throttle kept every ID), are all refused as failed logins, and write at
// most a row a minute to the audit log, none holding their text.
func TestHardening2_1_malformedIDsCostNoMemory(t *testing.T) {
	store := backendtest.SQLiteStore(t)
	admin := newAdmin()
	s := startServe(t, "", adminEnv(admin), "--store", store)
	if s.URL == "" {
		t.Fatalf("serve did not start: %s", s.log())
	}
	c := from("127.0.0.1")
	// Warm up: the heap and the connection pools every server has.
	for range 20 {
		call(t, c, "POST", s.URL+"/v1/login", nil, loginBody(uuid.NewString(), "wrong"))
		call(t, c, "GET", s.URL+"/v1/accounts", &admin, "")
	}
	before := rssMB(t, s.cmd.Process.Pid)

	marker := func(i int, size int) string {
		head := fmt.Sprintf("not-an-id-%04d-", i)
		return head + strings.Repeat("x", size-len(head))
	}
	for i := range 100 {
		if code, body := call(t, c, "POST", s.URL+"/v1/login", nil, loginBody(marker(i, 1<<20), "wrong")); code != 401 {
			t.Fatalf("login %d with a 1 MB ID: %d %.200s", i, code, body)
		}
		basic := backendtest.Admin{ID: marker(1000+i, 48<<10), Secret: "wrong"}
		if code, body := call(t, c, "GET", s.URL+"/v1/accounts", &basic, ""); code != 401 {
			t.Fatalf("Basic %d with a 48 KB ID: %d %.200s", i, code, body)
		}
	}
	after := rssMB(t, s.cmd.Process.Pid)
	t.Logf("serve's RSS: %d MB before, %d MB after 100 x 1 MB and 100 x 48 KB IDs", before, after)
	// The requests' own garbage comes and goes (GOGC=400); a kept megabyte
	// per ID would be 200 MB and more.
	if after-before > 100 {
		t.Errorf("serve's RSS grew by %d MB (from %d to %d MB)", after-before, before, after)
	}

	s.stop()
	rows := 0
	for _, e := range audit(t, store) {
		if strings.Contains(e.TargetID, "not-an-id-") || strings.Contains(e.Detail, "not-an-id-") {
			t.Fatalf("the audit log holds an ID's text: %.100s", e.TargetID)
		}
		if e.Action == "login.failure" && e.TargetID == "(not an API key ID)" {
			rows++
		}
	}
	// One row opens the minute for each actor (anonymous, admin-api); the
	// rest are summed up when serve stops.
	if rows > 4 {
		t.Errorf("%d audit rows for 200 logins with made-up IDs, want at most 4", rows)
	}
}

// rssMB is the resident memory of process pid in MB.
func rssMB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb >> 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
