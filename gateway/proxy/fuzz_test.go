package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// anySeparator folds a header name the way the strictest reading of the
// contract does: case ignored, every byte but letters and digits read as '-'.
func anySeparator(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		}
		return '-'
	}, s)
}

var fuzzDecision = Request{
	Path: "/api/x",
	Identity: []Header{
		{Name: "X-User-Id", Value: "u-123"},
		{Name: "X-User-Roles", Value: "user"},
	},
	StripNames:     []string{"X-User-Id", "X-User-Email", "X-User-Roles"},
	AccessCookie:   "access",
	ForwardedFor:   "203.0.113.9",
	ForwardedProto: "https",
	ForwardedHost:  "app.example",
}

// FuzzRewriteRequestHeader feeds arbitrary client header blocks, as fasthttp's
// server would parse them, through the rewrite and checks what the upstream
// would read: exactly the gateway's identity and forwarding values, no
// hop-by-hop field, nothing the client's Connection header named, no
// Authorization, and a head that still parses.
func FuzzRewriteRequestHeader(f *testing.F) {
	for _, seed := range []string{
		"Host: a\r\nX-User-Id: evil\r\nx-user-id: e2\r\nX_User_Id: e3\r\nX.User.Id: e4\r\n",
		"Host: a\r\nConnection: X-User-Roles, X-Custom\r\nX-User-Roles: admin\r\nX-Custom: 1\r\n",
		"Host: a\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=x\r\nX-Real-IP: 1\r\nX-Original-URI: /admin\r\n",
		"Host: a\r\nAuthorization: Bearer x\r\nCookie: access=t; other=1\r\nCookie: access=u\r\n",
		"Host: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\nTrailer: X-T\r\nKeep-Alive: 1\r\nUpgrade: h2c\r\n",
		"Host: a\r\nX User Id: spaced\r\nX-User-Id : trailing\r\n",
		"Host: a\r\nConnection: close, x_user_email\r\nX_USER_EMAIL: e\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, block []byte) {
		var src fasthttp.RequestHeader
		raw := append([]byte("GET /api/x HTTP/1.1\r\n"), block...)
		raw = append(raw, "\r\n"...)
		if err := src.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return
		}
		// What the client's Connection header named, by fasthttp's reading.
		var named []string
		for k, v := range src.All() {
			if anySeparator(string(k)) == "connection" {
				for _, tok := range strings.Split(string(v), ",") {
					if tok = strings.TrimSpace(tok); tok != "" {
						named = append(named, anySeparator(tok))
					}
				}
			}
		}

		var dst fasthttp.RequestHeader
		r := fuzzDecision
		rewriteRequestHeader(&dst, &src, &r, false, new(scratch))
		dst.SetRequestURI("/api/x")
		dst.SetHost("upstream")
		head := dst.Header()

		var again fasthttp.RequestHeader
		if err := again.Read(bufio.NewReader(bytes.NewReader(head))); err != nil {
			t.Fatalf("rewritten head does not parse: %v\n%q", err, head)
		}
		got := map[string][]string{}
		lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
		for _, l := range lines[1:] {
			k, v, ok := strings.Cut(l, ":")
			if !ok || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("malformed line %q in\n%q", l, head)
			}
			got[anySeparator(k)] = append(got[anySeparator(k)], strings.TrimSpace(v))
		}
		want := map[string]string{
			"x-user-id": "u-123", "x-user-roles": "user",
			"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", "x-forwarded-host": "app.example",
		}
		for name, vs := range got {
			if w, ok := want[name]; ok {
				if len(vs) != 1 || vs[0] != w {
					t.Fatalf("%s: %q, want only %q\n%q", name, vs, w, head)
				}
				continue
			}
			switch {
			case name == "x-user-email", name == "authorization", name == "forwarded", name == "x-real-ip",
				strings.HasPrefix(name, "x-forwarded-"), strings.HasPrefix(name, "x-original-"),
				name == "connection", name == "keep-alive", name == "te", name == "trailer",
				name == "transfer-encoding", name == "upgrade", name == "proxy-authorization",
				name == "proxy-connection", name == "expect":
				t.Fatalf("%s forwarded: %q\n%q", name, vs, head)
			case name == "cookie":
				for _, v := range vs {
					for _, c := range strings.Split(v, ";") {
						if k, _, _ := strings.Cut(strings.TrimSpace(c), "="); k == "access" {
							t.Fatalf("access cookie forwarded: %q", v)
						}
					}
				}
			}
			for _, n := range named {
				if name == n && name != "host" && name != "content-length" {
					t.Fatalf("%s was named in Connection but forwarded\n%q", name, head)
				}
			}
		}
		for name := range want {
			if len(got[name]) != 1 {
				t.Fatalf("%s missing\n%q", name, head)
			}
		}
	})
}
