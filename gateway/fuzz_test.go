package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"authgate/gateway/rules"
)

// FuzzGatewayForwardsOnlyWhatItAuthorized sends arbitrary raw request
// targets, without a token, through the whole gateway in front of an
// upstream that records what reaches it. The properties:
//   - a request answered 400/401/403 never reaches the upstream;
//   - a request that reaches it arrives with exactly the normalized path
//     the rules allowed, and that path is under /public (the only rule a
//     request without a token can pass).
func FuzzGatewayForwardsOnlyWhatItAuthorized(f *testing.F) {
	for _, s := range []string{
		"/public/x", "/public/../admin/x", "/public/%2e%2e/admin/x", "//admin/x", "/api/..%2fadmin",
		"/admin%2fx", "/public/%252e%252e/admin", "/admin%00", `/public\..\admin`, "/public/..;/admin",
		"/public/./a//b?q=%2e%2e", "/public/%7Euser", "/PUBLIC/x", "/public", "/public/", "/%70ublic/x",
		"http://localhost/public/x", "http://evil/public/x", "/public/%C0%AE%C0%AE/admin", "/public/a#frag",
	} {
		f.Add(s)
	}
	var (
		mu   sync.Mutex
		hits []string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.RequestURI)
		mu.Unlock()
		w.WriteHeader(200)
	}))
	defer up.Close()
	// The gateway proxies to the recording upstream.
	e := newEnv(f, func(y string) string {
		return regexp.MustCompile(`default: http://127\.0\.0\.1:[0-9]+`).ReplaceAllString(y, "default: "+up.URL)
	})
	g := e.g
	f.Fuzz(func(t *testing.T, target string) {
		if strings.ContainsAny(target, " \r\n") || target == "" {
			return // not a request line fasthttp would parse as one target
		}
		mu.Lock()
		before := len(hits)
		mu.Unlock()
		done := make(chan int, 1)
		go func() { done <- serveRaw(g, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\n\r\n") }()
		var status int
		select {
		case status = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: no answer within 10s", target)
		}
		mu.Lock()
		reached := hits[before:]
		mu.Unlock()
		switch {
		case status == 400 || status == 401 || status == 403:
			if len(reached) != 0 {
				t.Fatalf("%q answered %d but reached the upstream as %q", target, status, reached)
			}
		case len(reached) > 0:
			raw := []byte(target)
			if host, rest, ok := rules.SplitAbsolute(raw); ok && host == "localhost" {
				raw = rest
			}
			path, query, err := rules.Normalize(raw)
			if err != nil {
				t.Fatalf("%q reached the upstream though Normalize refuses it: %v", target, err)
			}
			want := path
			if query != "" {
				want += "?" + query
			}
			if reached[0] != want {
				t.Fatalf("%q: upstream got %q, authorized %q", target, reached[0], want)
			}
			if path != "/public" && !strings.HasPrefix(path, "/public/") {
				t.Fatalf("%q reached the upstream as %q without a token", target, path)
			}
		}
	})
}

// serveRaw runs one raw request through the gateway's handler in process
// (no client socket: a fuzzer's thousands of connections per second would
// exhaust loopback ports), then drains the response as the server would.
func serveRaw(g *Gateway, raw string) int {
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		return 400 // fasthttp refuses it before any handler runs
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, nil)
	g.App().Handler()(&ctx)
	status := ctx.Response.StatusCode()
	bw := bufio.NewWriter(io.Discard)
	_ = ctx.Response.Write(bw)
	_ = bw.Flush()
	_ = ctx.Response.CloseBodyStream()
	return status
}

// sendRaw writes one raw request to the gateway over loopback and returns
// the status (400 when the server closed without an answer).
func sendRaw(addr, raw string) int {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return -1
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(8 * time.Second))
	if _, err := conn.Write([]byte(raw)); err != nil {
		return -1
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 400
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// The fuzz harness must really proxy: a public path reaches the upstream
// with its normalized spelling, a refused one does not.
func TestFuzzHarnessProxiesOverLoopback(t *testing.T) {
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.RequestURI)
	}))
	defer up.Close()
	addr := newEnv(t, func(y string) string {
		return regexp.MustCompile(`default: http://127\.0\.0\.1:[0-9]+`).ReplaceAllString(y, "default: "+up.URL)
	}).addr()
	if st := sendRaw(addr, "GET /public/a/../b//c?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); st != 200 {
		t.Fatalf("status %d", st)
	}
	if st := sendRaw(addr, "GET /public/..%2fadmin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); st != 400 {
		t.Fatalf("status %d", st)
	}
	if len(got) != 1 || got[0] != "/public/b/c?x=1" {
		t.Fatalf("upstream saw %q", got)
	}
}
