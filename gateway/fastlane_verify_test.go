package gateway

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"authgate/auth"
)

// Forward-auth on the fast path: the loops answer bodiless /auth/verify
// questions (any method but CONNECT) themselves with the decision the
// Fiber app makes (forwardAuth). These tests hold the two paths to the same
// bytes.

// forwardAuthEnv is a fast-path environment whose loopback client is a
// trusted proxy, with browser sign-in and session cookies on (302 to the
// sign-in page, CSRF checks).
func forwardAuthEnv(t testing.TB) *fastEnv {
	t.Helper()
	return newFastEnv(t, func(y string) string {
		y = strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["127.0.0.0/8"]`, 1)
		return y + browserOn
	})
}

// verifyReq is a forward-auth request as a proxy sends it: method, the
// verify endpoint, Host app.test, then the given header lines.
func verifyReq(method string, lines ...string) string {
	return method + " /auth/verify HTTP/1.1\r\nHost: app.test\r\n" + strings.Join(lines, "") + "\r\n"
}

func nginxAsks(method, uri string) string {
	return "X-Original-Method: " + method + "\r\nX-Original-URI: " + uri + "\r\nX-Forwarded-Host: app.test\r\nX-Forwarded-Proto: http\r\nX-Forwarded-For: 192.0.2.7\r\n"
}

func traefikAsks(method, uri string) string {
	return "X-Forwarded-Method: " + method + "\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app.test\r\nX-Forwarded-Uri: " + uri + "\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Server: traefik-1\r\nX-Real-Ip: 192.0.2.7\r\n"
}

// caddyAsks is what Caddy's forward_auth sends: the client's own headers
// (it copies them), then its X-Forwarded-* fields.
func caddyAsks(method, uri string) string {
	return "User-Agent: curl/8.5.0\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Host: app.test\r\nX-Forwarded-Method: " + method + "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Uri: " + uri + "\r\nAccept-Encoding: gzip\r\n"
}

const navigate = "Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nAccept: text/html\r\n"

// rawClient is one keep-alive connection that keeps the bytes of each
// response.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	rec  bytes.Buffer
	br   *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rc := &rawClient{t: t, conn: c}
	rc.br = bufio.NewReader(io.TeeReader(c, &rc.rec))
	return rc
}

// send writes raw and returns the response and its bytes, with the values
// that differ by the request (Date, X-Request-Id) masked, and any bytes
// that follow it.
func (c *rawClient) send(method, raw string) (resp, string) {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	c.rec.Reset()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatal(err)
	}
	res, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("%q: %v", raw, err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		c.t.Fatalf("%q: body: %v", raw, err)
	}
	if c.br.Buffered() != 0 {
		// More than the response says: fasthttp sends the body of its
		// own 400 for a head it cannot parse even to a HEAD, and closes.
		// Keep what follows, until the connection ends, for the
		// comparison.
		_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, c.br)
	}
	b := volatileFields.ReplaceAllString(c.rec.String(), "$1: -")
	return resp{status: res.StatusCode, header: res.Header, body: body}, b
}

var volatileFields = regexp.MustCompile(`(?m)^(Date|X-Request-Id): [^\r]*`)

// verifyMetrics are the series a forward-auth answer counts in.
func verifyMetrics(t *testing.T, fe *fastEnv) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, name := range []string{"authgate_decisions_total", "authgate_http_requests_total", "authgate_http_request_duration_seconds"} {
		for k, v := range series(t, fe.g.metrics, name) {
			out[name+"/"+k] = v
		}
	}
	return out
}

func metricsDelta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

type verifyCase struct {
	name, method, raw string
	status            int
	// handedOver: the loop declines it and the Fiber app answers.
	handedOver bool
}

// compareVerify sends each case to the fast path (twice on one
// connection: it stays open on the loop) and once to the Fiber app, and
// wants the same bytes, the same metrics, and the loops to have answered.
func compareVerify(t *testing.T, fe *fastEnv, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m0 := verifyMetrics(t, fe)
			s0, r0, h0 := fe.counts()
			c := dialRaw(t, fe.fast)
			got, gotRaw := c.send(tc.method, tc.raw)
			s1, r1, h1 := fe.counts()
			m1 := verifyMetrics(t, fe)
			_, wantRaw := dialRaw(t, fe.slow).send(tc.method, tc.raw)
			m2 := verifyMetrics(t, fe)
			switch {
			case tc.handedOver && h1 != h0+1:
				t.Errorf("handed over %d, want 1", h1-h0)
			case !tc.handedOver && (s1 != s0+1 || r1 != r0 || h1 != h0):
				t.Errorf("served %d, relayed %d, handed over %d; want one answered by a loop", s1-s0, r1-r0, h1-h0)
			}
			if got.status != tc.status {
				t.Errorf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			if gotRaw != wantRaw {
				t.Errorf("fast path answered\n%s\nFiber app\n%s", gotRaw, wantRaw)
			}
			if fd, sd := metricsDelta(m0, m1), metricsDelta(m1, m2); !maps.Equal(fd, sd) {
				t.Errorf("metrics counted\nfast path %v\nFiber app %v", fd, sd)
			}
			if tc.handedOver {
				return
			}
			// The connection stays on the loop and answers the same again.
			if again, againRaw := c.send(tc.method, tc.raw); againRaw != gotRaw || again.status != got.status {
				t.Errorf("second answer on the connection\n%s\nfirst\n%s", againRaw, gotRaw)
			}
			if s2, _, h2 := fe.counts(); s2 != s1+1 || h2 != h1 {
				t.Errorf("second request: served %d, handed over %d", s2-s1, h2-h1)
			}
		})
	}
}

// testForwardAuthOnTheFastPath is TestFastPathAnswersAsTheFiberApp's part
// for forward-auth: every answer and refusal of /auth/verify.
func testForwardAuthOnTheFastPath(t *testing.T, untrusted *fastEnv) {
	fe := forwardAuthEnv(t)
	fe.addUser("gone", "gone-password-1", "user")
	gone, _ := fe.login("gone", "gone-password-1")
	if r := fe.do("POST", "/logout", "", bearer(gone)...); r.status/100 != 2 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	cu := fe.addUser("changer", "changer-password-1", "user")
	cu.MustChangePassword = true
	if err := fe.st.UpdateUser(t.Context(), cu); err != nil {
		t.Fatal(err)
	}
	changer, _ := fe.login("changer", "changer-password-1") // good only for changing the password
	u, _ := fe.st.GetUserByUsername(t.Context(), "fan")
	expired, _, err := fe.g.tokens.Issue(u.ID, "sid-expired", "fan", "fan@example.com", []string{"user"}, false, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cookie := "Cookie: __Host-authgate_access=" + fe.user + "\r\n"
	user, admin := authz(fe.user), authz(fe.admin)
	restricted := authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd"}, Step: auth.StepVerify}))
	withFactor := authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd", "otp"}}))
	stale := authz(fe.tokenFor("fan", auth.Authn{AMR: []string{"pwd", "otp"}, Time: time.Now().Add(-time.Hour)}))
	compareVerify(t, fe, []verifyCase{
		// allowed, with the identity headers
		{"nginx allowed", "GET", verifyReq("GET", nginxAsks("GET", "/api/x?y=1"), user), 200, false},
		{"nginx allowed, role granted", "GET", verifyReq("GET", nginxAsks("GET", "/admin/panel"), admin), 200, false},
		{"nginx POST allowed", "GET", verifyReq("GET", nginxAsks("POST", "/api/x"), user), 200, false},
		{"traefik allowed", "GET", verifyReq("GET", traefikAsks("GET", "/api/y"), user), 200, false},
		{"traefik DELETE allowed", "GET", verifyReq("GET", traefikAsks("DELETE", "/api/y"), user), 200, false},
		{"caddy allowed", "GET", verifyReq("GET", caddyAsks("GET", "/api/z?q=%20a"), user), 200, false},
		{"lower-case method and names", "GET", verifyReq("GET", "x-original-method: get\r\nx-original-uri: /api/x\r\n", user), 200, false},
		{"named upstream", "GET", verifyReq("GET", nginxAsks("GET", "/other/x"), user), 200, false},
		{"absolute original URI on the forwarded host", "GET", verifyReq("GET", nginxAsks("GET", "http://app.test/api/x"), user), 200, false},
		{"verify path with a query and dot segments", "GET", strings.Replace(verifyReq("GET", nginxAsks("GET", "/api/x"), user), "/auth/verify", "/auth/./verify?from=nginx", 1), 200, false},
		{"cookie session, safe method, cross-site", "GET", verifyReq("GET", traefikAsks("GET", "/api/x"), cookie, "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n"), 200, false},
		{"cookie session, POST same-site", "GET", verifyReq("GET", traefikAsks("POST", "/api/x"), cookie, "Origin: http://app.test\r\n"), 200, false},
		// public and deny rules
		{"public without token", "GET", verifyReq("GET", nginxAsks("GET", "/public/page")), 200, false},
		{"public with token", "GET", verifyReq("GET", nginxAsks("GET", "/public/page"), user), 200, false},
		{"public with a bad token", "GET", verifyReq("GET", nginxAsks("GET", "/public/page"), authz(fe.user+"x")), 200, false},
		{"public, cookie, cross-site POST: no identity", "GET", verifyReq("GET", traefikAsks("POST", "/public/form"), cookie, "Origin: https://evil.example\r\n"), 200, false},
		{"deny rule", "GET", verifyReq("GET", nginxAsks("GET", "/blocked/x"), user), 403, false},
		{"default deny", "GET", verifyReq("GET", nginxAsks("GET", "/nowhere"), user), 403, false},
		// refused tokens
		{"nginx no token", "GET", verifyReq("GET", nginxAsks("GET", "/api/x")), 401, false},
		{"traefik no token, not a navigation", "GET", verifyReq("GET", traefikAsks("GET", "/api/x")), 401, false},
		{"forged token", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), authz(fe.user+"x")), 401, false},
		{"expired token", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), authz(expired)), 401, false},
		{"revoked token", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), authz(gone)), 401, false},
		{"must change the password", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), authz(changer)), 403, false},
		{"must change the password, navigation: 302 to the password page", "GET", verifyReq("GET", traefikAsks("GET", "/api/x?z=1"), authz(changer), navigate), 302, false},
		{"must change the password, public rule", "GET", verifyReq("GET", nginxAsks("GET", "/public/x"), authz(changer)), 200, false},
		{"role refused", "GET", verifyReq("GET", nginxAsks("GET", "/admin/x"), user), 403, false},
		{"traversal to a refused role", "GET", verifyReq("GET", nginxAsks("GET", "/public/../admin/x"), user), 403, false},
		// nginx's form: a 4xx but 401 and 403 is answered 403
		{"nginx encoded slash", "GET", verifyReq("GET", nginxAsks("GET", "/public/..%2fadmin"), user), 403, false},
		{"nginx method missing", "GET", verifyReq("GET", "X-Original-URI: /api/x\r\n", user), 403, false},
		{"nginx bad X-Forwarded-Host", "GET", verifyReq("GET", "X-Original-Method: GET\r\nX-Original-URI: /api/x\r\nX-Forwarded-Host: a b\r\n", user), 403, false},
		{"nginx absolute URI on another host", "GET", verifyReq("GET", nginxAsks("GET", "http://evil.test/api/x"), user), 403, false},
		{"nginx with a client's X-Forwarded-Uri", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), "X-Forwarded-Uri: /public/x\r\n", user), 400, false},
		// Traefik's and Caddy's form: the 400 as it is
		{"traefik bad X-Forwarded-Host", "GET", verifyReq("GET", "X-Forwarded-Method: GET\r\nX-Forwarded-Uri: /api/x\r\nX-Forwarded-Host: a/b\r\n", user), 400, false},
		{"traefik absolute URI on another host", "GET", verifyReq("GET", traefikAsks("GET", "http://evil.test/api/x"), user), 400, false},
		{"traefik encoded slash", "GET", verifyReq("GET", traefikAsks("GET", "/public/..%2fadmin"), user), 400, false},
		{"caddy method missing", "GET", verifyReq("GET", "X-Forwarded-Uri: /api/x\r\n", user), 400, false},
		{"no original URI", "GET", verifyReq("GET", user), 400, false},
		{"traefik with a client's X-Original-URI", "GET", verifyReq("GET", traefikAsks("GET", "/admin/x"), "X-Original-URI: /public/x\r\n", user), 400, false},
		// browser sign-in: 302 in the Traefik/Caddy form, 401 in nginx's
		{"navigation without a session: 302 to sign in", "GET", verifyReq("GET", traefikAsks("GET", "/api/x?a=1&b=%2F"), navigate), 302, false},
		{"caddy navigation with an expired cookie", "GET", verifyReq("GET", caddyAsks("GET", "/api/x"), "Cookie: __Host-authgate_access="+expired+"\r\n", navigate), 302, false},
		{"navigation to a refused role: 403", "GET", verifyReq("GET", traefikAsks("GET", "/admin/x"), user, navigate), 403, false},
		{"nginx navigation: 401", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), navigate), 401, false},
		{"POST navigation: 401", "GET", verifyReq("GET", traefikAsks("POST", "/api/x"), navigate), 401, false},
		// cross-site requests on the session cookie
		{"cross-site POST with the cookie", "GET", verifyReq("GET", traefikAsks("POST", "/api/x"), cookie, "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n"), 403, false},
		{"cross-site DELETE by Referer (nginx)", "GET", verifyReq("GET", nginxAsks("DELETE", "/api/x"), cookie, "Referer: https://evil.example/page\r\n"), 403, false},
		{"null origin", "GET", verifyReq("GET", traefikAsks("PUT", "/api/x"), cookie, "Origin: null\r\n"), 403, false},
		{"cross-site POST with a bearer token", "GET", verifyReq("GET", traefikAsks("POST", "/api/x"), user, "Origin: https://evil.example\r\n"), 200, false},
		// HEAD
		{"HEAD allowed", "HEAD", verifyReq("HEAD", nginxAsks("GET", "/api/x"), user), 200, false},
		{"HEAD refused", "HEAD", verifyReq("HEAD", nginxAsks("GET", "/api/x")), 401, false},
		{"HEAD 302", "HEAD", verifyReq("HEAD", traefikAsks("GET", "/api/x"), navigate), 302, false},
		// second factors: restricted tokens, mfa: required, max_age
		{"nginx restricted token", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), restricted), 401, false},
		{"traefik restricted token, navigation: 302 to the mfa page", "GET", verifyReq("GET", traefikAsks("GET", "/api/x"), restricted, navigate), 302, false},
		{"mfa rule, password only", "GET", verifyReq("GET", nginxAsks("GET", "/secure/x"), user), 401, false},
		{"mfa rule, second factor", "GET", verifyReq("GET", traefikAsks("GET", "/secure/x"), withFactor), 200, false},
		{"step-up rule, stale", "GET", verifyReq("GET", caddyAsks("GET", "/stepup/x"), stale), 401, false},
		{"step-up rule, stale, navigation", "GET", verifyReq("GET", caddyAsks("GET", "/stepup/x"), stale, navigate), 302, false},
		{"step-up rule, fresh", "GET", verifyReq("GET", nginxAsks("GET", "/stepup/x"), withFactor), 200, false},
		// nginx asks with the original method, without the body
		{"nginx POST /auth/verify", "POST", verifyReq("POST", nginxAsks("POST", "/api/x"), user), 200, false},
		{"nginx PUT refused", "PUT", verifyReq("PUT", nginxAsks("PUT", "/admin/x"), user), 403, false},
		{"nginx DELETE with Content-Length: 0", "DELETE", verifyReq("DELETE", nginxAsks("DELETE", "/api/x"), user, "Content-Length: 0\r\n"), 200, false},
		{"nginx PATCH without a token", "PATCH", verifyReq("PATCH", nginxAsks("PATCH", "/api/x")), 401, false},
		{"nginx OPTIONS", "OPTIONS", verifyReq("OPTIONS", nginxAsks("OPTIONS", "/public/x")), 200, false},
		{"nginx PROPFIND", "PROPFIND", verifyReq("PROPFIND", nginxAsks("PROPFIND", "/api/dav"), user), 200, false},
		{"nginx POST, cross-site with the cookie", "POST", verifyReq("POST", nginxAsks("POST", "/api/x"), cookie, "Origin: https://evil.example\r\n"), 403, false},
		{"TRACE", "TRACE", verifyReq("TRACE", nginxAsks("TRACE", "/api/x"), user), 200, false},
		// what the loops leave to the Fiber app
		{"POST with a body", "POST", verifyReq("POST", nginxAsks("GET", "/api/x"), user, "Content-Length: 2\r\n") + "{}", 200, true},
		{"space in a field name", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), user, "X Y: z\r\n"), 400, true},
	})
	t.Run("untrusted peer", func(t *testing.T) {
		compareVerify(t, untrusted, []verifyCase{
			{"nginx form", "GET", verifyReq("GET", nginxAsks("GET", "/api/x"), authz(untrusted.user)), 403, false},
			{"traefik form", "GET", verifyReq("GET", traefikAsks("GET", "/public/x")), 403, false},
			{"HEAD", "HEAD", verifyReq("HEAD", traefikAsks("GET", "/public/x")), 403, false},
		})
	})
}

// notInStep is a revocation gate that refuses every token, as an instance
// whose lease ran out does.
type notInStep struct{}

func (notInStep) Admit(string, time.Time) error { return auth.ErrNotInStep }

// testForwardAuthHandsOverA503: a 5xx (the store catching up) is the Fiber
// app's to answer and log; the loop hands the request over.
func testForwardAuthHandsOverA503(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["127.0.0.0/8"]`, 1)
	})
	e.addUser("fan", "fan-password-1", "user")
	tok, _ := e.login("fan", "fan-password-1")
	e.g.verifier.SetGate(notInStep{})
	fast, _ := serveFast(t, e)
	_, _, h0 := e.g.fast.Load().Counts()
	r := dial(t, fast).send("GET", verifyReq("GET", nginxAsks("GET", "/api/x"), authz(tok)))
	if r.status != 503 || r.problemType(t) != "store-unavailable" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	if _, _, h1 := e.g.fast.Load().Counts(); h1 != h0+1 {
		t.Errorf("handed over %d, want 1", h1-h0)
	}
}

// FuzzForwardAuthAgreesWithTheFiberApp sends the same forward-auth request,
// its original URI, method and host mutated, to the fast path's loops and
// to the Fiber app alone, from a trusted proxy, and wants the same bytes
// back (Date and X-Request-Id aside). family picks the header names
// (nginx's, Traefik's/Caddy's, or both), flags add a token, the session
// cookie, a browser navigation and a cross-site Origin, and ask with the
// original method as nginx does.
func FuzzForwardAuthAgreesWithTheFiberApp(f *testing.F) {
	for _, s := range []struct {
		uri, method, host string
		family, flags     uint8
	}{
		{"/api/x?y=1", "GET", "app.test", 0, 1},
		{"/admin/x", "get", "", 1, 1},
		{"/public/../admin/x", "GET", "app.test", 0, 1},
		{"/public/..%2fadmin", "GET", "", 0, 1},
		{"/public/..%2fadmin", "GET", "", 1, 1},
		{"http://app.test/api/x", "GET", "app.test", 0, 1},
		{"http://evil/api/x", "GET", "app.test", 1, 1},
		{"//api/x", "POST", "APP.test.", 1, 2 | 8},
		{"/api/x", "DELETE", "app.test:443", 0, 2 | 8},
		{"/api/%2e%2e/admin", "GET", "a b", 0, 1},
		{"api/x", "GET", "", 1, 4},
		{"/api/x#frag", "", "", 1, 4},
		{"*", "GET", "", 2, 1},
		{"/api/x", "PROPFIND", "[::1]:80", 1, 2},
		{"/public/%C0%AE", "GET", "", 1, 4 | 8},
		{"/api/x", "POST", "", 0, 1 | 16},
		{"/public/x", "HEAD", "", 0, 16},
		{"/api/x", "DELETE", "", 0, 2 | 8 | 16},
	} {
		f.Add(s.uri, s.method, s.host, s.family, s.flags)
	}
	fe := forwardAuthEnv(f)
	f.Fuzz(func(t *testing.T, uri, method, host string, family, flags uint8) {
		if len(uri)+len(method)+len(host) > 2048 || strings.ContainsAny(uri+method+host, "\r\n") {
			return
		}
		var b strings.Builder
		field := func(name, v string) {
			if v != "" {
				b.WriteString(name + ": " + v + "\r\n")
			}
		}
		if family%3 != 1 {
			field("X-Original-URI", uri)
			field("X-Original-Method", method)
		}
		if family%3 != 0 {
			field("X-Forwarded-Uri", uri)
			field("X-Forwarded-Method", method)
		}
		field("X-Forwarded-Host", host)
		if flags&1 != 0 {
			b.WriteString(authz(fe.user))
		}
		if flags&2 != 0 {
			b.WriteString("Cookie: __Host-authgate_access=" + fe.user + "\r\n")
		}
		if flags&4 != 0 {
			b.WriteString(navigate)
		}
		if flags&8 != 0 {
			b.WriteString("Origin: https://evil.example\r\n")
		}
		asks := "GET"
		switch method {
		case "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD":
			if flags&16 != 0 {
				asks = method // as nginx asks: with the original method
			}
		}
		raw := verifyReq(asks, b.String())
		_, got := dialRaw(t, fe.fast).send(asks, raw)
		_, want := dialRaw(t, fe.slow).send(asks, raw)
		if got != want {
			t.Fatalf("%q\nfast path\n%s\nFiber app\n%s", raw, got, want)
		}
	})
}

// TestXFFValueJoinsEveryHeader: one X-Forwarded-For (a proxy's usual
// request, read without a copy) or several, joined in order.
func TestXFFValueJoinsEveryHeader(t *testing.T) {
	for _, tc := range []struct{ lines, want string }{
		{"", ""},
		{"X-Forwarded-For: 192.0.2.7\r\n", "192.0.2.7"},
		{"x-forwarded-for: 192.0.2.7, 10.0.0.1\r\n", "192.0.2.7, 10.0.0.1"},
		{"X-Forwarded-For: 192.0.2.7\r\nX-Other: 1\r\nX-FORWARDED-FOR: 10.0.0.1\r\n", "192.0.2.7,10.0.0.1"},
		{"X-Forwarded-For: \r\nX-Forwarded-For: 10.0.0.1\r\n", "10.0.0.1"},
	} {
		var h fasthttp.RequestHeader
		h.DisableNormalizing()
		if err := h.Read(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: a\r\n" + tc.lines + "\r\n"))); err != nil {
			t.Fatal(err)
		}
		if got := xffValue(&h); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.lines, got, tc.want)
		}
	}
}
