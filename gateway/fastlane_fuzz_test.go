package gateway

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"authgate/gateway/fastpath"
)

// FuzzFastPathUpstreamHead feeds arbitrary header lines, with a valid token,
// through what a fast-path loop does with a request head (parse, eligible
// or not, Route) and checks the head it would send upstream:
//   - it parses as one HTTP/1.1 request with exactly the fields written
//     (no field smuggled in through a value or a name);
//   - Host is the upstream's, once;
//   - the identity fields are the token's, once each, whatever the client
//     sent; no Authorization, Forwarded, X-Real-IP or X-Original-* passes.
func FuzzFastPathUpstreamHead(f *testing.F) {
	for _, s := range []string{
		"X-User-Id: evil", "x_user_id: evil\r\nX.User.Roles: admin", "Connection: X-Keep\r\nX-Keep: 1",
		"X-Forwarded-For: 1.2.3.4\r\nForwarded: for=x", "Cookie: a=1; b=2", "X-Original-URI: /admin",
		"Host: other", "X: a\tb", "X Y: z", "Transfer-Encoding: chunked", "Content-Length: 0",
		"X-Request-Id: mine", "Authorization: Basic eA==", "X-User-Email: e\r\n folded",
	} {
		f.Add(s)
	}
	e := newEnv(f, nil)
	e.addUser("fuzz", "fuzz-password-1", "user")
	tok, _ := e.login("fuzz", "fuzz-password-1")
	h, _, err := e.g.newFastHandler()
	if err != nil || len(h.ups) != len(e.g.proxies) {
		f.Fatalf("fast handler: %v", err)
	}
	upstreamHost := strings.TrimPrefix(e.cfg.Upstreams.Default, "http://")
	f.Fuzz(func(t *testing.T, lines string) {
		raw := "GET /api/x?q=1 HTTP/1.1\r\nHost: app.test\r\n" + lines + "\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
		ex := new(fastpath.Exchange)
		if err := ex.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return // the loop hands it to the Fiber app
		}
		ex.Peer, ex.Start = netip.MustParseAddrPort("192.0.2.1:1234"), time.Now()
		if !h.Route(ex) {
			return
		}
		defer func() { ex.HandedOver = true; h.Done(ex) }()
		head := ex.Head
		var out fasthttp.RequestHeader
		out.DisableNormalizing()
		br := bufio.NewReader(bytes.NewReader(head))
		if err := out.Read(br); err != nil {
			t.Fatalf("upstream head does not parse: %v\n%q", err, head)
		}
		if br.Buffered() != 0 {
			t.Fatalf("bytes after the upstream head: %q", head)
		}
		if n := bytes.Count(head, []byte("\r\n")) - 2; n != out.Len() {
			t.Fatalf("%d lines but %d fields: %q", n, out.Len(), head)
		}
		if string(out.Host()) != upstreamHost || bytes.Count(bytes.ToLower(head), []byte("\r\nhost:")) != 1 {
			t.Fatalf("Host %q in %q", out.Host(), head)
		}
		want := map[string]string{"x-user-id": "", "x-user-name": "fuzz", "x-user-roles": "user", "x-user-email": "fuzz@example.com"}
		seen := map[string]int{}
		for k, v := range out.All() {
			name := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(string(k)))
			if w, ok := want[name]; ok {
				seen[name]++
				if w != "" && string(v) != w {
					t.Fatalf("%s: %q, want %q", k, v, w)
				}
			}
			switch {
			case name == "authorization", name == "forwarded", name == "x-real-ip", strings.HasPrefix(name, "x-original-"):
				t.Fatalf("%s passed: %q", k, head)
			}
		}
		for name := range want {
			if seen[name] != 1 {
				t.Fatalf("%s %d times in %q", name, seen[name], head)
			}
		}
	})
}
