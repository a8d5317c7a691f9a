package proxy

import (
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// leadDecision is what the gateway decided for an authenticated user.
func leadDecision(c *fiber.Ctx) *Request {
	return &Request{
		Path:     string(c.Request().URI().PathOriginal()),
		RawQuery: string(c.Request().URI().QueryString()),
		Identity: []Header{
			{Name: "X-User-Id", Value: "u-123"},
			{Name: "X-User-Name", Value: "alice"},
			{Name: "X-User-Roles", Value: "user"},
		},
		StripNames:     []string{"X-User-Id", "X-User-Name", "X-User-Email", "X-User-Roles"},
		AccessCookie:   "access",
		ForwardedFor:   "203.0.113.9",
		ForwardedProto: "https",
		ForwardedHost:  "app.example",
	}
}

func TestForwardHeaderHygiene(t *testing.T) {
	upstream := startRawUpstream(t, echoHead)
	p := newProxy(t, Options{URL: upstream})
	var decide atomic.Pointer[func(*fiber.Ctx) *Request]
	addr := startGateway(t, p, func(c *fiber.Ctx) *Request { return (*decide.Load())(c) })
	upstreamHost := strings.TrimPrefix(upstream, "http://")

	tests := []struct {
		name    string
		decide  func(*fiber.Ctx) *Request
		request string
		check   func(t *testing.T, requestLine string, fields [][2]string)
	}{
		{
			name:   "every client copy and spelling of an identity header is replaced by the gateway's one value",
			decide: leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example",
				"X-User-Id: evil1", "x-user-id: evil2", "X_User_Id: evil3", "X.User.Id: evil4",
				"X-USER-ID: evil5", "x_user-ID: evil6", "X-User-Name: mallory", "X-User-Name: mallory2"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "X-User-Id", "u-123")
				wantValues(t, f, "X-User-Name", "alice")
			},
		},
		{
			name:    "identity header the gateway does not set this time is removed anyway",
			decide:  leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example", "X-User-Email: boss@example.com", "x_user_email: b@example.com"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "X-User-Email")
			},
		},
		{
			name:   "headers named in Connection are removed",
			decide: leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example",
				"Connection: X-User-Roles, X-Custom", "Connection: keep-alive, X-Other",
				"X-User-Roles: admin", "X-Custom: 1", "X-Other: 2", "X-Kept: 3"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "X-User-Roles", "user")
				wantValues(t, f, "X-Custom")
				wantValues(t, f, "X-Other")
				wantValues(t, f, "Connection")
				wantValues(t, f, "X-Kept", "3")
			},
		},
		{
			name:   "client-sent forwarding headers are replaced by the gateway's",
			decide: leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example",
				"X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 7.7.7.7", "X_Forwarded_For: 8.8.8.8",
				"X-Forwarded-Host: evil.example", "X-Forwarded-Proto: http", "X-Forwarded-Prefix: /admin",
				"Forwarded: for=6.6.6.6;host=evil", "X-Real-IP: 6.6.6.6", "X-Original-URI: /admin", "X-Original-Method: DELETE"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "X-Forwarded-For", "203.0.113.9")
				wantValues(t, f, "X-Forwarded-Host", "app.example")
				wantValues(t, f, "X-Forwarded-Proto", "https")
				wantValues(t, f, "X-Forwarded-Prefix")
				wantValues(t, f, "Forwarded")
				wantValues(t, f, "X-Real-IP")
				wantValues(t, f, "X-Original-URI")
				wantValues(t, f, "X-Original-Method")
			},
		},
		{
			name:   "forwarding headers are not sent when the gateway sets none",
			decide: plainDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example",
				"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil.example"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "X-Forwarded-For")
				wantValues(t, f, "X-Forwarded-Host")
			},
		},
		{
			name:   "hop-by-hop headers are removed",
			decide: leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example",
				"Keep-Alive: timeout=5", "TE: trailers", "Proxy-Authorization: Basic eDp5",
				"Proxy-Connection: keep-alive", "Upgrade: h2c", "Connection: Upgrade"),
			check: func(t *testing.T, _ string, f [][2]string) {
				for _, n := range []string{"Keep-Alive", "TE", "Proxy-Authorization", "Proxy-Connection", "Upgrade", "Connection", "Trailer"} {
					wantValues(t, f, n)
				}
			},
		},
		{
			name:   "an upgrade request with a body is forwarded as plain HTTP, not tunnelled",
			decide: leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example", "Upgrade: websocket", "Connection: Upgrade",
				"Sec-WebSocket-Key: "+wsKey, "Content-Length: 5") + "hello",
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "Upgrade")
				wantValues(t, f, "Connection")
				wantValues(t, f, "Content-Length", "5")
			},
		},
		{
			name:   "authorization and the access cookie are removed by default, other cookies kept",
			decide: leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example",
				"Authorization: Bearer secret", "authorization: Bearer other",
				"Cookie: access=secret; theme=dark", "Cookie: lang=en; access=again"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "Authorization")
				cookies := strings.Join(valuesOf(f, "Cookie"), "; ")
				if strings.Contains(cookies, "secret") || strings.Contains(cookies, "again") {
					t.Errorf("access cookie forwarded: %q", cookies)
				}
				if !strings.Contains(cookies, "theme=dark") || !strings.Contains(cookies, "lang=en") {
					t.Errorf("other cookies lost: %q", cookies)
				}
			},
		},
		{
			name: "authorization and the access cookie are forwarded when the gateway keeps them",
			decide: func(c *fiber.Ctx) *Request {
				r := leadDecision(c)
				r.KeepAuthorization = true
				return r
			},
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example", "Authorization: Bearer tok", "Cookie: access=tok"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "Authorization", "Bearer tok")
				wantValues(t, f, "Cookie", "access=tok")
			},
		},
		{
			name:   "ordinary headers pass unchanged",
			decide: leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example",
				"Accept: text/html", "User-Agent: test/1", "X-Request-Id: r1", "X-Request-Id: r2", "If-None-Match: \"v1\""),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "Accept", "text/html")
				wantValues(t, f, "User-Agent", "test/1")
				wantValues(t, f, "X-Request-Id", "r1", "r2")
				wantValues(t, f, "If-None-Match", `"v1"`)
			},
		},
		{
			name: "the authorized path and the raw query are sent byte for byte, whatever the client's target",
			decide: func(c *fiber.Ctx) *Request {
				return &Request{Path: "/admin/a%20b//c", RawQuery: "q=%2F..%2F&x=1+2"}
			},
			request: crlf("GET /public/../admin/a%20b//c?ignored HTTP/1.1", "Host: app.example"),
			check: func(t *testing.T, line string, _ [][2]string) {
				if want := "GET /admin/a%20b//c?q=%2F..%2F&x=1+2 HTTP/1.1"; line != want {
					t.Errorf("request line %q, want %q", line, want)
				}
			},
		},
		{
			name:    "an absolute-form target does not pick the upstream",
			decide:  leadDecision,
			request: crlf("GET http://evil.example/api/x HTTP/1.1", "Host: app.example"),
			check: func(t *testing.T, line string, f [][2]string) {
				if line != "GET /api/x HTTP/1.1" {
					t.Errorf("request line %q", line)
				}
				wantValues(t, f, "Host", upstreamHost)
			},
		},
		{
			name:    "the upstream gets its own Host",
			decide:  leadDecision,
			request: crlf("GET /api/x HTTP/1.1", "Host: app.example"),
			check: func(t *testing.T, _ string, f [][2]string) {
				wantValues(t, f, "Host", upstreamHost)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decide.Store(&tt.decide)
			resp, body := rawExchange(t, addr, tt.request)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			line, fields := headFields(body)
			tt.check(t, line, fields)
		})
	}
}

// wantValues fails unless the fields named name (in any spelling) hold
// exactly want, in order.
func wantValues(t *testing.T, fields [][2]string, name string, want ...string) {
	t.Helper()
	got := valuesOf(fields, name)
	if !slices.Equal(got, want) {
		t.Errorf("%s: upstream got %q, want %q", name, got, want)
	}
}

func TestForwardRefusesUnsendableRequest(t *testing.T) {
	var hits atomic.Int32
	upstream := startRawUpstream(t, func(c net.Conn) { hits.Add(1); echoHead(c) })
	p := newProxy(t, Options{URL: upstream})
	tests := []struct {
		name string
		r    Request
	}{
		{"path without leading slash could name another host", Request{Path: "@evil.example/x"}},
		{"empty path", Request{Path: ""}},
		{"path with a space would split the request line", Request{Path: "/a b"}},
		{"path with CRLF would inject headers", Request{Path: "/a\r\nX-User-Id: 1"}},
		{"path with a query mark", Request{Path: "/a?b"}},
		{"query with a fragment", Request{Path: "/a", RawQuery: "x#y"}},
		{"identity value with CRLF", Request{Path: "/a", Identity: []Header{{Name: "X-User-Name", Value: "a\r\nX-User-Roles: admin"}}}},
		{"identity name that is no token", Request{Path: "/a", Identity: []Header{{Name: "X User", Value: "a"}}}},
		{"forwarded-for with LF", Request{Path: "/a", ForwardedFor: "1.2.3.4\nX-A: b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startGateway(t, p, func(*fiber.Ctx) *Request { r := tt.r; return &r })
			resp, body := rawExchange(t, addr, crlf("GET /a HTTP/1.1", "Host: app.example"))
			if resp.StatusCode != fiber.StatusInternalServerError || !strings.Contains(string(body), ErrInvalidRequest.Error()) {
				t.Errorf("status %d body %q, want 500 with ErrInvalidRequest", resp.StatusCode, body)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream was contacted %d times", n)
	}
}

func TestNewRefusesUpstreamURLs(t *testing.T) {
	for _, u := range []string{
		"", "127.0.0.1:80", "ftp://host", "http://", "http://user:pw@host", "http://host/prefix",
		"http://host/?q=1", "http://host/#f", "http://host:80:80",
	} {
		if _, err := New(Options{URL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:9000", "http://backend/", "https://backend.example"} {
		if _, err := New(Options{URL: u}); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	if _, err := New(Options{URL: "http://h", DialTimeout: -1}); err == nil {
		t.Error("negative DialTimeout accepted")
	}
}
