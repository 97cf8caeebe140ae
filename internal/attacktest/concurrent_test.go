package attacktest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHardening2_2_concurrentGuessesPastTheBurst: 60 guesses at once on 60
// connections, the right secret among them, at an app key (POST /v1/login)
// and at the admin (Basic auth): past the burst (3) no outcome is answered
// or audited, however the requests interleave, so the right secret gets the
// same 429 as the wrong ones unless it was among the first checked. On main
// 57-59 of them got 401 and the right one 2xx.
func TestHardening2_2_concurrentGuessesPastTheBurst(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			admin := newAdmin()
			s := startServe(t, "", adminEnv(admin), "--store", store, "--key-file", t.TempDir()+"/k.key")
			if s.URL == "" {
				t.Fatalf("serve did not start: %s", s.log())
			}
			code, body := call(t, from("127.0.0.9"), "POST", s.URL+"/v1/accounts", &admin, `{"name":"app-key"}`)
			if code != 201 {
				t.Fatalf("create: %d %s", code, body)
			}
			var k struct{ ID, Secret string }
			_ = json.Unmarshal([]byte(body), &k)

			host := strings.TrimPrefix(s.URL, "http://")
			login := func(secret string) string {
				b := loginBody(k.ID, secret)
				return fmt.Sprintf("POST /v1/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", host, len(b), b)
			}
			basic := func(secret string) string {
				cred := base64.StdEncoding.EncodeToString([]byte(admin.ID + ":" + secret))
				return fmt.Sprintf("GET /v1/accounts HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n", host, cred)
			}
			failed := map[string]int{} // target: how many failures may stand
			for _, c := range []struct {
				name, ip, target string
				req              func(string) string
				right            string
			}{
				{"POST /v1/login", "127.0.0.2", k.ID, login, k.Secret},
				{"Basic", "127.0.0.3", admin.ID, basic, admin.Secret},
			} {
				reqs := make([]string, 60)
				for i := range reqs {
					reqs[i] = c.req(fmt.Sprintf("wrong-guess-%02d-%s", i, strings.Repeat("g", 30)))
				}
				const right = 41
				reqs[right] = c.req(c.right)
				codes := together(t, host, c.ip, reqs)
				n := map[int]int{}
				for _, code := range codes {
					n[code]++
				}
				t.Logf("%s: %v (the right secret: %d)", c.name, n, codes[right])
				// As if one at a time in the order they were checked: 3
				// failures, then 429. The right secret stands only among the
				// first 3 checked, and a success forgets the failures before it.
				maxFailed := 3
				switch codes[right] {
				case 429:
				case 200, 204:
					maxFailed = 3 + 2
				default:
					t.Errorf("%s: the right secret got %d", c.name, codes[right])
				}
				if n[401] > maxFailed || n[401]+n[429]+n[200]+n[204] != 60 {
					t.Errorf("%s: answers %v, want at most %d checked failures and the rest 429", c.name, n, maxFailed)
				}
				failed[c.target] = maxFailed
			}
			s.stop()
			evs := audit(t, store)
			for id, most := range failed {
				if n := count(evs, "login.failure", id); n > most {
					t.Errorf("%d login.failure events at %s, want at most %d", n, id, most)
				}
			}
		})
	}
}

// together sends each request on its own connection from ip, all at once:
// the connections are made first, then every request is written in the same
// moment. It returns the status of each answer.
func together(t *testing.T, host, ip string, reqs []string) []int {
	t.Helper()
	conns := make([]net.Conn, len(reqs))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	for i := range conns {
		c, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		conns[i] = c
	}
	codes := make([]int, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			defer func() { _ = c.Close() }()
			<-start
			if _, err := io.WriteString(c, reqs[i]); err != nil {
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	return codes
}
