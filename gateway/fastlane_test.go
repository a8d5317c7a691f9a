package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/auth"
	"authgate/gateway/echo"
	"authgate/gateway/internal/memwatch"
)

// scriptedUpstream is the echo upstream plus paths that answer in the ways
// the fast path must relay exactly like the Fiber app: other statuses, no
// body, a large body, chunked, server-sent events, hop-by-hop fields, a
// stall, a body cut short.
func scriptedUpstream(t testing.TB) (*httptest.Server, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/api/status/", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Path[len("/api/status/"):])
		w.Header().Set("X-Upstream", "status")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		if code != http.StatusNoContent && code != http.StatusNotModified && r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "status body")
		}
	})
	mux.HandleFunc("/api/big", func(w http.ResponseWriter, r *http.Request) {
		body := strings.Repeat("0123456789abcdef", 200<<10/16) // 200 KiB: streamed
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	})
	mux.HandleFunc("/api/stream", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		chunk := []byte(strings.Repeat("authgate", 8<<10)) // 64 KiB
		for n > 0 {
			k := min(n, int64(len(chunk)))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("/api/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "piece %d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/api/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	})
	mux.HandleFunc("/api/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // the upstream ends the connection after this answer
		_, _ = io.WriteString(w, "closing")
	})
	mux.HandleFunc("/api/http10", rawAnswer("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nolder"))
	mux.HandleFunc("/api/hop", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "connection-scoped")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		_, _ = io.WriteString(w, "hop")
	})
	mux.HandleFunc("/api/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/api/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"X-Upstream-User: " + r.Header.Get("X-User-Id") + "\r\n\r\n")
		_ = buf.Flush()
		_, _ = io.Copy(conn, buf) // echo whatever the client sends
	})
	mux.HandleFunc("/api/cut", rawAnswer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"))
	mux.Handle("/", echo.Handler())
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return up, release
}

// rawAnswer writes raw on the connection, as it is, and closes it.
func rawAnswer(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
		_ = conn.Close()
	}
}

var upstreamURL = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)

// fastEnv is a gateway in front of scriptedUpstream, served twice: by Serve
// with the fast path on fast, and by the Fiber app alone on slow.
type fastEnv struct {
	*testEnv
	fast, slow string
	release    chan struct{}
	up         *httptest.Server
	user       string // token of a user with role user
	admin      string // token of a user with roles user and admin
	fanID      string // the user's ID
	stop       func() error
}

func newFastEnv(t testing.TB, edit func(string) string) *fastEnv {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the fast path runs on Linux only")
	}
	up, release := scriptedUpstream(t)
	e := newEnv(t, func(y string) string {
		y = upstreamURL.ReplaceAllString(y, up.URL)
		if edit != nil {
			y = edit(y)
		}
		return y
	})
	fan := e.addUser("fan", "fan-password-1", "user")
	e.addUser("boss", "boss-password-1", "user", "admin")
	fe := &fastEnv{testEnv: e, release: release, up: up, slow: e.addr(), fanID: fan.ID}
	fe.user, _ = e.login("fan", "fan-password-1")
	fe.admin, _ = e.login("boss", "boss-password-1")

	fe.fast, fe.stop = serveFast(t, e)
	return fe
}

// serveFast serves e through Serve, the fast path on, on a loopback port.
// stop cancels Serve and returns its error.
func serveFast(t testing.TB, e *testEnv) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.g.Serve(ctx, ln, nil) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(30 * time.Second):
				serveErr = fmt.Errorf("Serve did not return")
			}
		})
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	for i := 0; e.g.fast.Load() == nil; i++ {
		if i > 500 {
			t.Fatal("the fast path did not start")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return ln.Addr().String(), stop
}

func (fe *fastEnv) counts() (served, relayed, handedOver uint64) {
	return fe.g.fast.Load().Counts()
}

// client is one keep-alive connection that sends raw requests.
type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, conn: c, br: bufio.NewReader(c)}
}

// send writes raw and reads one response to a request with method.
func (c *client) send(method, raw string) resp {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatal(err)
	}
	res, err := http.ReadResponse(c.br, &http.Request{Method: method})
	for err == nil && res.StatusCode < 200 { // 100 Continue
		res, err = http.ReadResponse(c.br, &http.Request{Method: method})
	}
	if err != nil {
		c.t.Fatalf("%q: %v", raw, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%q: body: %v", raw, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: body}
}

func get(path string, headers ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: app.test\r\n" + strings.Join(headers, "") + "\r\n"
}

func authz(tok string) string { return "Authorization: Bearer " + tok + "\r\n" }

// upstreamSaw is the part of an echo reply that must not depend on the
// path that served the request.
func upstreamSaw(t *testing.T, body []byte) echo.Reply {
	t.Helper()
	var r echo.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("not an echo reply: %q", body)
	}
	r.RemoteAddr, r.HeaderKeys = "", nil
	delete(r.Headers, "X-Request-Id")
	return r
}

// TestFastPathAnswersAsTheFiberApp sends each request to the fast path and
// to the Fiber app alone and wants the same answer, the same request at the
// upstream, and the fast path to have served it itself.
func TestFastPathAnswersAsTheFiberApp(t *testing.T) {
	fe := newFastEnv(t, nil)
	tests := []struct {
		name, method, raw string
		echo              bool // the upstream's reply describes the request
		relayed           bool // the fast path streams it from a goroutine
		handedOver        bool // refused: the Fiber app answers the problem
	}{
		{name: "authenticated GET with query", method: "GET", echo: true,
			raw: get("/api/items?page=2&q=a%20b", authz(fe.user), "Accept: application/json\r\nUser-Agent: t/1\r\n")},
		{name: "HEAD", method: "HEAD", raw: "HEAD /api/items HTTP/1.1\r\nHost: app.test\r\n" + authz(fe.user) + "\r\n"},
		{name: "spoofed identity and forwarding fields", method: "GET", echo: true,
			raw: get("/api/me", authz(fe.user), "X-User-Id: evil\r\nx_user_name: evil\r\nX.User.Roles: admin\r\n",
				"X-User-Email: evil@example.com\r\nConnection: keep-alive, X-Drop-Me\r\nX-Drop-Me: 1\r\n",
				"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n",
				"X-Original-URI: /admin\r\nX-Request-Id: spoofed\r\nTE: trailers\r\nProxy-Authorization: x\r\n")},
		{name: "lower-case field names and repeated fields", method: "GET", echo: true,
			raw: get("/api/x", authz(fe.user), "accept: a\r\nx-custom: 1\r\nX-Custom: 2\r\ncookie: a=1\r\nCookie: b=2\r\n")},
		{name: "dot segments and repeated slashes", method: "GET", echo: true,
			raw: get("/api//a/./b/../c", authz(fe.user))},
		{name: "public without token", method: "GET", echo: true, raw: get("/public/page")},
		{name: "public with token", method: "GET", echo: true, raw: get("/public/page", authz(fe.user))},
		{name: "role granted", method: "GET", echo: true, raw: get("/admin/panel", authz(fe.admin))},
		{name: "named upstream", method: "GET", echo: true, raw: get("/other/thing", authz(fe.user))},
		{name: "absolute-form target for the same host", method: "GET", echo: true,
			raw: "GET http://app.test/api/abs HTTP/1.1\r\nHost: app.test\r\n" + authz(fe.user) + "\r\n"},
		{name: "204", method: "GET", raw: get("/api/status/204", authz(fe.user))},
		{name: "304", method: "GET", raw: get("/api/status/304", authz(fe.user))},
		{name: "404 with body", method: "GET", raw: get("/api/status/404", authz(fe.user))},
		{name: "503 with body", method: "GET", raw: get("/api/status/503", authz(fe.user))},
		{name: "HEAD of a status", method: "HEAD", raw: "HEAD /api/status/200 HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "\r\n"},
		{name: "hop-by-hop response fields", method: "GET", raw: get("/api/hop", authz(fe.user))},
		{name: "upstream closes after answering", method: "GET", raw: get("/api/close", authz(fe.user))},
		{name: "HTTP/1.0 upstream", method: "GET", raw: get("/api/http10", authz(fe.user))},
		{name: "large body", method: "GET", raw: get("/api/big", authz(fe.user)), relayed: true},
		{name: "chunked body", method: "GET", raw: get("/api/chunked", authz(fe.user)), relayed: true},
		// Second factors: decided from the claims alone, exactly as the
		// Fiber app decides them.
		{name: "restricted token", method: "GET", handedOver: true,
			raw: get("/api/items", authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd"}, Step: auth.StepVerify})))},
		{name: "restricted token on a public path", method: "GET", echo: true,
			raw: get("/public/page", authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd"}, Step: auth.StepEnrol})))},
		{name: "mfa rule without a second factor", method: "GET", handedOver: true,
			raw: get("/secure/x", authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd"}})))},
		{name: "mfa rule with a second factor", method: "GET", echo: true,
			raw: get("/secure/x", authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd", "otp"}})))},
		{name: "step-up rule, stale auth_time", method: "GET", handedOver: true,
			raw: get("/stepup/x", authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd", "hwk"}, Time: time.Now().Add(-time.Hour)})))},
		{name: "step-up rule, fresh auth_time", method: "GET", echo: true,
			raw: get("/stepup/x", authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd", "hwk"}})))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s0, r0, h0 := fe.counts()
			got := dial(t, fe.fast).send(tc.method, tc.raw)
			want := dial(t, fe.slow).send(tc.method, tc.raw)
			s1, r1, h1 := fe.counts()
			switch {
			case tc.handedOver:
				if h1 != h0+1 || s1 != s0 || r1 != r0 {
					t.Errorf("served %d, relayed %d, handed over %d; want one handed over", s1-s0, r1-r0, h1-h0)
				}
			case h1 != h0:
				t.Errorf("handed over to the Fiber app; want served by the fast path")
			case tc.relayed && r1 != r0+1:
				t.Errorf("relayed %d, served %d; want one relay", r1-r0, s1-s0)
			case !tc.relayed && s1 != s0+1:
				t.Errorf("served %d, relayed %d; want one served by a loop", s1-s0, r1-r0)
			}
			if got.status != want.status {
				t.Fatalf("status %d, Fiber app %d (body %q)", got.status, want.status, got.body)
			}
			for _, r := range []resp{got, want} {
				if r.header.Get("X-Request-Id") == "" || r.header.Get("X-Request-Id") == "spoofed" {
					t.Errorf("X-Request-Id %q", r.header.Get("X-Request-Id"))
				}
				r.header.Del("X-Request-Id")
				r.header.Del("Date")
				if tc.echo {
					// The echo's body holds the request id and the remote
					// port, whose lengths vary (a base-36 counter crossing
					// 36^n, a 4- or 5-digit port): compared below instead.
					r.header.Del("Content-Length")
				}
			}
			if fmt.Sprint(got.header) != fmt.Sprint(want.header) {
				t.Errorf("headers\n got %v\nwant %v", got.header, want.header)
			}
			if tc.echo {
				g, w := upstreamSaw(t, got.body), upstreamSaw(t, want.body)
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("upstream saw\n%+v\nFiber app's request\n%+v", g, w)
				}
				if v := g.Headers["X-User-Id"]; len(v) > 1 || len(v) == 1 && v[0] == "evil" {
					t.Errorf("X-User-Id at the upstream: %q", v)
				}
				if v := g.Headers["X-User-Id"]; strings.HasPrefix(tc.raw, "GET /secure/") || strings.HasPrefix(tc.raw, "GET /stepup/") {
					if len(v) != 1 || v[0] != fe.fanID {
						t.Errorf("X-User-Id at the upstream %q, want %q", v, fe.fanID)
					}
				} else if strings.HasPrefix(tc.raw, "GET /public/") && len(v) > 0 && tc.name == "restricted token on a public path" {
					t.Errorf("a restricted token passed identity %q", v)
				}
				for _, n := range []string{"X-Drop-Me", "X-Real-Ip", "Forwarded", "X-Original-Uri", "Te", "Proxy-Authorization", "X_user_name", "X.user.roles", "Authorization"} {
					if v, ok := g.Headers[n]; ok {
						t.Errorf("%s reached the upstream: %q", n, v)
					}
				}
			} else if string(got.body) != string(want.body) {
				t.Errorf("body %q, Fiber app %q", got.body, want.body)
			}
		})
	}
	t.Run("forward-auth", func(t *testing.T) { testForwardAuthOnTheFastPath(t, fe) })
}

// TestFastPathHandsOverWhatItDoesNotServe: these requests go to the Fiber
// app with the bytes already read, are answered as usual, and the connection
// keeps working there.
func TestFastPathHandsOverWhatItDoesNotServe(t *testing.T) {
	fe := newFastEnv(t, nil)
	tests := []struct {
		name, method, raw string
		status            int
	}{
		{"no token", "GET", get("/api/x"), 401},
		{"forged token", "GET", get("/api/x", authz(fe.user+"x")), 401},
		{"missing role", "GET", get("/admin/x", authz(fe.user)), 403},
		{"denied rule", "GET", get("/blocked/x", authz(fe.user)), 403},
		{"encoded slash", "GET", get("/api/a%2fb", authz(fe.user)), 400},
		{"space in a field name", "GET", get("/api/x", authz(fe.user), "X Y: z\r\n"), 400},
		{"absolute-form for another host", "GET", "GET http://evil.test/api/x HTTP/1.1\r\nHost: app.test\r\n" + authz(fe.user) + "\r\n", 400},
		{"own route", "GET", get("/me", authz(fe.user)), 200},
		{"JWKS", "GET", get("/.well-known/jwks.json"), 200},
		{"POST with a body", "POST", "POST /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Content-Length: 5\r\n\r\nhello", 200},
		{"DELETE", "DELETE", "DELETE /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "\r\n", 200},
		{"chunked GET", "GET", "GET /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"chunked POST", "POST", "POST /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200},
		{"HTTP/1.0", "GET", "GET /api/x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n" + authz(fe.user) + "\r\n", 200},
		{"Expect", "GET", get("/api/x", authz(fe.user), "Expect: 100-continue\r\n"), 200},
		{"forward-auth POST with a body", "POST", verifyReq("POST", nginxAsks("GET", "/api/x"), authz(fe.user), "Content-Length: 2\r\n") + "{}", 403},
		{"forward-auth CONNECT", "CONNECT", "CONNECT /auth/verify HTTP/1.1\r\nHost: a\r\n" + nginxAsks("GET", "/public/x") + "\r\n", 403},
		{"forward-auth with a space in a field name", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), "X Y: z\r\n"), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, h0 := fe.counts()
			c := dial(t, fe.fast)
			got := c.send(tc.method, tc.raw)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			if _, _, h1 := fe.counts(); h1 != h0+1 {
				t.Errorf("handed over %d connections, want 1", h1-h0)
			}
			// The connection now belongs to the Fiber app and keeps working.
			if next := c.send("GET", get("/api/next", authz(fe.user))); next.status != 200 {
				t.Errorf("next request on the connection: %d %s", next.status, next.body)
			}
		})
	}
	t.Run("forward-auth while catching up with the store", func(t *testing.T) {
		testForwardAuthHandsOverA503(t)
	})
	t.Run("pipelined requests", func(t *testing.T) {
		c := dial(t, fe.fast)
		two := get("/api/one", authz(fe.user)) + get("/api/two", authz(fe.user))
		first := c.send("GET", two)
		var second resp
		res, err := http.ReadResponse(c.br, nil)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			second = resp{status: res.StatusCode, body: b}
		}
		if first.status != 200 || upstreamSaw(t, first.body).Path != "/api/one" ||
			second.status != 200 || upstreamSaw(t, second.body).Path != "/api/two" {
			t.Fatalf("pipelined answers %d %q / %d %q (%v)", first.status, first.body, second.status, second.body, err)
		}
	})
}

// TestFastPathRefusesRevokedTokensOnTheNextRequest: a logout is seen by the
// fast path's next request on the same connection.
func TestFastPathRefusesRevokedTokensOnTheNextRequest(t *testing.T) {
	fe := newFastEnv(t, nil)
	c := dial(t, fe.fast)
	if r := c.send("GET", get("/api/x", authz(fe.user))); r.status != 200 {
		t.Fatalf("before logout: %d", r.status)
	}
	if r := fe.do("POST", "/logout", "", bearer(fe.user)...); r.status != 204 && r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := c.send("GET", get("/api/x", authz(fe.user))); r.status != 401 {
		t.Fatalf("after logout: %d, want 401", r.status)
	}
}

func TestFastPathUpstreamFailures(t *testing.T) {
	t.Run("response timeout is 504 from the loop", func(t *testing.T) {
		fe := newFastEnv(t, func(y string) string {
			return strings.Replace(y, "upstreams:\n", "upstreams:\n  response_timeout: 300ms\n", 1)
		})
		s0, _, h0 := fe.counts()
		r := dial(t, fe.fast).send("GET", get("/api/slow", authz(fe.user)))
		if r.status != 504 || r.header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(r.body), "urn:authgate:problem:upstream-timeout") {
			t.Fatalf("got %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if s1, _, h1 := fe.counts(); s1 != s0+1 || h1 != h0 {
			t.Errorf("served %d handed over %d, want the loop to answer", s1-s0, h1-h0)
		}
	})
	t.Run("body cut short is 502 from the loop", func(t *testing.T) {
		fe := newFastEnv(t, nil)
		r := dial(t, fe.fast).send("GET", get("/api/cut", authz(fe.user)))
		if r.status != 502 || !strings.Contains(string(r.body), "upstream-unavailable") {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("refused connection is 502 from the Fiber app", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		_ = ln.Close()
		fe := newFastEnv(t, func(y string) string {
			return strings.Replace(y, "other: ", "other: "+dead+" #", 1)
		})
		r := dial(t, fe.fast).send("GET", get("/other/x", authz(fe.user)))
		if r.status != 502 || !strings.Contains(string(r.body), "upstream-unavailable") {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("upstream closing pooled connections", func(t *testing.T) {
		fe := newFastEnv(t, nil)
		c := dial(t, fe.fast)
		for i := range 3 {
			if r := c.send("GET", get("/api/x", authz(fe.user))); r.status != 200 {
				t.Fatalf("request %d: %d", i, r.status)
			}
			fe.upstreamCloseIdle()
		}
	})
}

// upstreamCloseIdle closes the upstream's idle keep-alive connections, as a
// backend restart or idle timeout would.
func (fe *fastEnv) upstreamCloseIdle() {
	fe.up.CloseClientConnections()
	time.Sleep(20 * time.Millisecond)
}

func TestFastPathStreamsServerSentEvents(t *testing.T) {
	fe := newFastEnv(t, nil)
	c := dial(t, fe.fast)
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, get("/api/sse", authz(fe.user))); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v (held back until the stream ends?)", line, err)
	}
	close(fe.release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestFastPathShutdownFinishesRequestsInFlight(t *testing.T) {
	fe := newFastEnv(t, nil)
	idle := dial(t, fe.fast)
	if r := idle.send("GET", get("/api/x", authz(fe.user))); r.status != 200 {
		t.Fatal(r.status)
	}
	busy := dial(t, fe.fast)
	_ = busy.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(busy.conn, get("/api/slow", authz(fe.user))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the request reaches the upstream
	stopped := make(chan error, 1)
	go func() { stopped <- fe.stop() }()
	time.Sleep(100 * time.Millisecond)
	close(fe.release) // the upstream answers now
	res, err := http.ReadResponse(busy.br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("in-flight request: %v %v", res, err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	_ = idle.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.br.ReadByte(); err == nil {
		t.Error("idle connection still open after shutdown")
	}
}

// TestFastPathStreamsLargeDownloadsWithBoundedMemory: a download the loop
// does not buffer is relayed piece by piece. 64 MiB by default, 1 GiB with
// AUTHGATE_BIG=1.
func TestFastPathStreamsLargeDownloadsWithBoundedMemory(t *testing.T) {
	size := int64(64 << 20)
	if os.Getenv("AUTHGATE_BIG") == "1" {
		size = 1 << 30
	}
	fe := newFastEnv(t, nil)
	for _, chunked := range []string{"", "1"} {
		t.Run("chunked="+chunked, func(t *testing.T) {
			c := dial(t, fe.fast)
			_ = c.conn.SetDeadline(time.Now().Add(5 * time.Minute))
			target := fmt.Sprintf("/api/stream?n=%d&chunked=%s", size, chunked)
			_, r0, _ := fe.counts()
			mem := memwatch.Start()
			if _, err := io.WriteString(c.conn, get(target, authz(fe.user))); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			heap, sys := mem.Growth()
			t.Logf("%d MiB: peak growth HeapInuse %.1f MiB, Sys %.1f MiB", size>>20, float64(heap)/(1<<20), float64(sys)/(1<<20))
			if err != nil || n != size || res.StatusCode != 200 {
				t.Fatalf("status %d, %d of %d bytes: %v", res.StatusCode, n, size, err)
			}
			if _, r1, _ := fe.counts(); r1 != r0+1 {
				t.Errorf("relayed %d, want 1", r1-r0)
			}
			if limit := int64(32 << 20); heap > limit || sys > limit {
				t.Errorf("memory grew by HeapInuse %d, Sys %d bytes; limit %d", heap, sys, limit)
			}
		})
	}
}

// TestFastPathHandsWebSocketUpgradesToTheTunnel: an upgrade goes to the
// Fiber app, which tunnels it with the identity headers set.
func TestFastPathHandsWebSocketUpgradesToTheTunnel(t *testing.T) {
	fe := newFastEnv(t, nil)
	_, _, h0 := fe.counts()
	c := dial(t, fe.fast)
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := get("/api/ws", authz(fe.user), "Connection: Upgrade\r\nUpgrade: websocket\r\nX-User-Id: evil\r\n",
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	if _, err := io.WriteString(c.conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	if u := res.Header.Get("X-Upstream-User"); u == "" || u == "evil" {
		t.Errorf("upstream saw X-User-Id %q", u)
	}
	if _, _, h1 := fe.counts(); h1 != h0+1 {
		t.Errorf("handed over %d connections, want 1", h1-h0)
	}
	if _, err := io.WriteString(c.conn, "ping through the tunnel"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("ping through the tunnel"))
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "ping through the tunnel" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// TestFastPathPathTricksMatchTheFiberApp sends raw request targets that try
// to reach /admin (the user has no admin role) or to smuggle separators.
// Whatever path serves them, the answer is the same, and a request that
// reaches the upstream arrives with the path the rules allowed.
func TestFastPathPathTricksMatchTheFiberApp(t *testing.T) {
	fe := newFastEnv(t, nil)
	for _, target := range []string{
		"/api/../admin/x", "/api/%2e%2e/admin/x", "/api/%2E%2e/admin", "/api/..%2fadmin", "/api%2f..%2fadmin",
		"/api/x%00", "/api/%5c..%5cadmin", `/api/\..\admin`, "/api/..;/admin", "/api/.%2e/admin",
		"//admin/x", "///api/x", "/api//x/", "/API/x", "/admin%2fx", "/api/%252e%252e/admin",
		"/api/%C0%AE%C0%AE/admin", "/api/./x?y=../admin", "/api/x#frag", "/api/%7Euser/%41",
		"/public/../admin/x", "/public/%2e%2e/admin/x", "http://app.test/api/../admin/x", "*",
	} {
		t.Run(target, func(t *testing.T) {
			raw := "GET " + target + " HTTP/1.1\r\nHost: app.test\r\n" + authz(fe.user) + "\r\n"
			got := dial(t, fe.fast).send("GET", raw)
			want := dial(t, fe.slow).send("GET", raw)
			if got.status != want.status {
				t.Fatalf("status %d, Fiber app %d", got.status, want.status)
			}
			t.Logf("status %d", got.status)
			if got.status != 200 {
				if !strings.Contains(got.header.Get("Content-Type"), "problem+json") {
					t.Errorf("status %d without a problem document: %q", got.status, got.body)
				}
				return
			}
			g, w := upstreamSaw(t, got.body), upstreamSaw(t, want.body)
			if g.Path != w.Path || g.RawPath != w.RawPath || g.Query != w.Query {
				t.Errorf("upstream saw %q %q ?%q, Fiber app's request %q %q ?%q", g.Path, g.RawPath, g.Query, w.Path, w.RawPath, w.Query)
			}
			if strings.HasPrefix(strings.ToLower(g.Path), "/admin") || strings.Contains(g.Path, "..") || strings.Contains(g.Path, "//") {
				t.Errorf("the upstream was sent %q", g.Path)
			}
		})
	}
}
