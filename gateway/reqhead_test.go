package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// hostsRule puts a rule with hosts first: /hosted/** is public on
// app.example only.
func hostsRule(y string) string {
	return strings.Replace(y, "rules:\n", "rules:\n  - {path: /hosted/**, policy: public, hosts: [app.example]}\n  - {path: /dav/**, policy: authenticated, methods: [PROPFIND, MKCOL, GET]}\n  - {path: /upload/**, policy: authenticated, allow_body: true}\n", 1)
}

// both sends raw to the fast path and to the Fiber app alone and wants the
// same status and problem type; it returns the fast path's answer.
func (fe *fastEnv) both(t *testing.T, method, raw string) resp {
	t.Helper()
	got := dial(t, fe.fast).send(method, raw)
	want := dial(t, fe.slow).send(method, raw)
	if got.status != want.status {
		t.Fatalf("fast path %d %s, Fiber app %d %s", got.status, got.body, want.status, want.body)
	}
	if got.status >= 400 && method != "HEAD" {
		if g, w := got.problemType(t), want.problemType(t); g != w {
			t.Fatalf("fast path %s, Fiber app %s", g, w)
		}
	}
	return got
}

// TestHostIsValidatedAndNormalizedOnBothPaths: the same Host values are
// refused with 400 on both paths, and an accepted one is matched against
// hosts: and forwarded as X-Forwarded-Host in its one normalized spelling.
func TestHostIsValidatedAndNormalizedOnBothPaths(t *testing.T) {
	fe := newFastEnv(t, hostsRule)
	for _, tc := range []struct {
		host   string
		status int
		xfh    string // X-Forwarded-Host at the upstream when 200
	}{
		{"app.example", 200, "app.example"},
		{"APP.Example", 200, "app.example"},
		{"app.example.", 200, "app.example"},
		{"app.example:8080", 200, "app.example:8080"},
		{"App.Example.:0080", 200, "app.example:80"},
		{"app.example..", 400, ""},
		{"other.example", 403, ""}, // no rule for it: default deny
		{"admin.example:80:80", 400, ""},
		{"host%2e", 400, ""},
		{"a b", 400, ""},
		{"[::1", 400, ""},
		{"a/b", 400, ""},
		{"app.example:", 400, ""},
		{"app.example@evil", 400, ""},
		{"127.1", 400, ""},
		{"", 400, ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			raw := "GET /hosted/x HTTP/1.1\r\nHost: " + tc.host + "\r\n\r\n"
			r := fe.both(t, "GET", raw)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 400 {
				if typ := r.problemType(t); typ != "invalid-host" && typ != "bad-request" {
					t.Errorf("problem %s", typ)
				}
			}
			if tc.status == 200 {
				if got := upstreamSaw(t, r.body).Headers["X-Forwarded-Host"]; len(got) != 1 || got[0] != tc.xfh {
					t.Errorf("X-Forwarded-Host %q, want %q", got, tc.xfh)
				}
			}
		})
	}
	t.Run("absolute-form target names the Host in another spelling", func(t *testing.T) {
		r := fe.both(t, "GET", "GET http://APP.example./hosted/x HTTP/1.1\r\nHost: app.example\r\n\r\n")
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
	t.Run("absolute-form target names another host", func(t *testing.T) {
		if r := fe.both(t, "GET", "GET http://evil.example/hosted/x HTTP/1.1\r\nHost: app.example\r\n\r\n"); r.status != 400 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
}

// TestHeadFramingIsReadAlikeOnBothPaths: where the fast path and fasthttp
// could disagree on where a head ends, the bytes are handed over or
// refused, never dropped.
func TestHeadFramingIsReadAlikeOnBothPaths(t *testing.T) {
	fe := newFastEnv(t, nil)
	t.Run("pipelined request after a bare LF blank line", func(t *testing.T) {
		for _, addr := range []string{fe.fast, fe.slow} {
			c := dial(t, addr)
			first := c.send("GET", "GET /api/one HTTP/1.1\r\nHost: a\r\n"+authz(fe.user)+"\n"+get("/api/two", authz(fe.user)))
			res, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatalf("%s: the second request was not answered: %v", addr, err)
			}
			body, _ := io.ReadAll(res.Body)
			if first.status != 200 || res.StatusCode != 200 || upstreamSaw(t, body).Path != "/api/two" {
				t.Fatalf("%s: %d, then %d %s", addr, first.status, res.StatusCode, body)
			}
		}
	})
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"obs-fold", get("/api/x", authz(fe.user), "X-A: 1\r\n folded\r\n"), 400},
		{"Content-Length with Transfer-Encoding", "POST /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding identity", "POST /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Transfer-Encoding: identity\r\n\r\n", 400},
		{"Transfer-Encoding gzip", "POST /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Transfer-Encoding: gzip\r\n\r\n", 400},
		{"duplicate Content-Length", "POST /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"space before colon", get("/api/x", authz(fe.user), "X-A : 1\r\n"), 400},
		{"control byte in a name", get("/api/x", authz(fe.user), "X\x01A: 1\r\n"), 400},
		{"two Host fields", get("/api/x", authz(fe.user), "Host: b\r\n"), 400},
		{"no Host", "GET /api/x HTTP/1.1\r\n" + authz(fe.user) + "\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, _, _ := strings.Cut(tc.raw, " ")
			if r := fe.both(t, method, tc.raw); r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
}

// TestMethodsBodiesAndOverridesOnBothPaths: any token method the rules
// allow is proxied (WebDAV); an invalid one, TRACE and CONNECT are refused
// with problems; a body on GET is refused unless the rule allows it; the
// method-override and URL-rewrite headers never reach the upstream.
func TestMethodsBodiesAndOverridesOnBothPaths(t *testing.T) {
	fe := newFastEnv(t, hostsRule)
	req := func(method, path, extra string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + extra + "\r\n"
	}
	for _, tc := range []struct {
		name, method, raw string
		status            int
		problem           string
	}{
		{"PROPFIND", "PROPFIND", req("PROPFIND", "/dav/x", "Depth: 1\r\n"), 200, ""},
		{"MKCOL", "MKCOL", req("MKCOL", "/dav/new", ""), 200, ""},
		{"PURGE not in the rule's methods", "PURGE", req("PURGE", "/dav/x", ""), 403, "denied"},
		{"PURGE on a rule with any method", "PURGE", req("PURGE", "/api/x", ""), 200, ""},
		{"lower-case token", "propfind", req("propfind", "/dav/x", ""), 200, ""},
		{"invalid method", "G(T", req("G(T", "/api/x", ""), 400, ""},
		{"TRACE", "TRACE", req("TRACE", "/api/x", ""), 405, "method-not-allowed"},
		{"CONNECT", "CONNECT", req("CONNECT", "/api/x", ""), 405, "method-not-allowed"},
		{"GET with a body", "GET", req("GET", "/api/x", "Content-Length: 4\r\n") + "body", 400, "body-not-allowed"},
		{"HEAD with a chunked body", "HEAD", req("HEAD", "/api/x", "Transfer-Encoding: chunked\r\n") + "4\r\nbody\r\n0\r\n\r\n", 400, "body-not-allowed"},
		{"DELETE with a body", "DELETE", req("DELETE", "/api/x", "Content-Length: 4\r\n") + "body", 400, "body-not-allowed"},
		{"OPTIONS with a body", "OPTIONS", req("OPTIONS", "/api/x", "Content-Length: 4\r\n") + "body", 400, "body-not-allowed"},
		{"GET with an empty body", "GET", req("GET", "/api/x", "Content-Length: 0\r\n"), 200, ""},
		{"GET with a body where the rule allows it", "GET", req("GET", "/upload/x", "Content-Length: 4\r\n") + "body", 200, ""},
		{"POST with a body", "POST", req("POST", "/api/x", "Content-Length: 4\r\n") + "body", 200, ""},
		{"malformed chunked body", "POST", req("POST", "/api/x", "Transfer-Encoding: chunked\r\n") + "zz\r\nbody\r\n0\r\n\r\n", 400, "bad-request"},
		{"forbidden trailer", "POST", req("POST", "/api/x", "Transfer-Encoding: chunked\r\n") + "4\r\nbody\r\n0\r\nContent-Length: 9\r\n\r\n", 400, "bad-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fe.both(t, tc.method, tc.raw)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.problem != "" && tc.method != "HEAD" && r.problemType(t) != tc.problem {
				t.Fatalf("problem %s, want %s", r.problemType(t), tc.problem)
			}
			if tc.status == 200 && tc.method != "HEAD" {
				if saw := upstreamSaw(t, r.body); saw.Method != tc.method {
					t.Fatalf("upstream saw method %q, want %q", saw.Method, tc.method)
				}
			}
		})
	}
	t.Run("override and rewrite headers are stripped", func(t *testing.T) {
		for _, m := range []string{"GET", "POST"} {
			raw := req(m, "/api/x", "X-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nx_method_override: DELETE\r\n"+
				"X-Rewrite-URL: /admin\r\nX-Original-URL: /admin\r\nX-Kept: 1\r\nContent-Length: 0\r\n")
			saw := upstreamSaw(t, fe.both(t, m, raw).body)
			for name := range saw.Headers {
				switch strings.ToLower(strings.NewReplacer("_", "-").Replace(name)) {
				case "x-http-method-override", "x-http-method", "x-method-override", "x-rewrite-url", "x-original-url":
					t.Errorf("%s: %s reached the upstream", m, name)
				}
			}
			if saw.Headers["X-Kept"] == nil {
				t.Errorf("%s: X-Kept was stripped too", m)
			}
		}
	})
	t.Run("strip_headers: [] keeps them", func(t *testing.T) {
		fe := newFastEnv(t, func(y string) string { return y + "requests: {strip_headers: [], refuse_methods: []}\n" })
		req := func(method, path, extra string) string {
			return method + " " + path + " HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + extra + "\r\n"
		}
		r := dial(t, fe.fast).send("GET", req("GET", "/api/x", "X-HTTP-Method-Override: PUT\r\n"))
		if got := upstreamSaw(t, r.body).Headers["X-Http-Method-Override"]; len(got) != 1 {
			t.Errorf("X-HTTP-Method-Override at the upstream: %q", got)
		}
		if r := dial(t, fe.fast).send("TRACE", req("TRACE", "/api/x", "")); r.status != 200 {
			t.Errorf("TRACE with refuse_methods: []: %d", r.status)
		}
	})
}

// TestExpectContinueIsDecidedBeforeTheBody: a request with
// "Expect: 100-continue" that will be refused gets its final answer at
// once, without 100 Continue and without its body being read; one that
// will pass gets 100 Continue, and the upstream its body.
func TestExpectContinueIsDecidedBeforeTheBody(t *testing.T) {
	fe := newFastEnv(t, nil)
	for _, tc := range []struct {
		name, head string
		status     int
		problem    string
	}{
		{"no token", "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 401, "unauthenticated"},
		{"missing role", "PUT /admin/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 403, "forbidden"},
		{"denied", "POST /blocked/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 403, "denied"},
		{"own route over the body limit", "POST /auth HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n", 413, "payload-too-large"},
		{"GET with a body", "GET /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 400, "body-not-allowed"},
		{"invalid Host", "POST /api/x HTTP/1.1\r\nHost: a:\r\n" + authz(fe.user) + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 400, "invalid-host"},
		{"allowed", "POST /api/x HTTP/1.1\r\nHost: a\r\n" + authz(fe.user) + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 100, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, addr := range []string{fe.fast, fe.slow} {
				c := dial(t, addr)
				_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(c.conn, tc.head); err != nil {
					t.Fatal(err)
				}
				// The body is not sent: a refusal must come without it.
				res, err := http.ReadResponse(c.br, &http.Request{Method: "POST"})
				if err != nil {
					t.Fatalf("%s: no answer before the body: %v", addr, err)
				}
				body, _ := io.ReadAll(res.Body)
				r := resp{status: res.StatusCode, header: res.Header, body: body}
				if r.status != tc.status {
					t.Fatalf("%s: status %d, want %d: %s", addr, r.status, tc.status, body)
				}
				if tc.problem != "" {
					if typ := r.problemType(t); typ != tc.problem {
						t.Fatalf("%s: problem %s, want %s", addr, typ, tc.problem)
					}
					continue
				}
				if _, err := io.WriteString(c.conn, "hello"); err != nil {
					t.Fatal(err)
				}
				res, err = http.ReadResponse(c.br, nil)
				if err != nil {
					t.Fatalf("%s: after the body: %v", addr, err)
				}
				body, _ = io.ReadAll(res.Body)
				if res.StatusCode != 200 || upstreamSaw(t, body).BodyBytes != 5 {
					t.Fatalf("%s: %d %s", addr, res.StatusCode, body)
				}
			}
		})
	}
}

// TestDeclaredLengthOverTheLimitIsRefusedAtOnce: an own route answers 413
// to a Content-Length over server.body_limit without waiting for the body.
func TestDeclaredLengthOverTheLimitIsRefusedAtOnce(t *testing.T) {
	fe := newFastEnv(t, nil)
	for _, addr := range []string{fe.fast, fe.slow} {
		c := dial(t, addr)
		_ = c.conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(c.conn, "POST /auth HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", addr, err)
		}
		if res.StatusCode != 413 {
			t.Fatalf("%s: %d", addr, res.StatusCode)
		}
	}
}
