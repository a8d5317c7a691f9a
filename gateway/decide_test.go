package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"authgate/gateway/echo"
	"authgate/store"
)

func echoed(t *testing.T, r resp) echo.Reply {
	t.Helper()
	var rep echo.Reply
	if err := json.Unmarshal(r.body, &rep); err != nil {
		t.Fatalf("upstream reply %q: %v", r.body, err)
	}
	return rep
}

func TestRulesDecideAndProxy(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("alice", "alice-password-1", "user")
	e.addUser("root", "root-password-1", "admin")
	alice, _ := e.login("alice", "alice-password-1")
	root, _ := e.login("root", "root-password-1")
	for _, tc := range []struct {
		name, method, target string
		token                string
		status               int
		slug                 string
	}{
		{"public without token", "GET", "/public/x", "", 200, ""},
		{"public with bad token is still public", "GET", "/public/x", "bad", 200, ""},
		{"authenticated without token", "GET", "/api/x", "", 401, "unauthenticated"},
		{"authenticated with token", "POST", "/api/x?q=1", alice, 200, ""},
		{"authenticated with forged token", "GET", "/api/x", alice + "x", 401, "invalid-token"},
		{"role missing", "GET", "/admin/panel", alice, 403, "forbidden"},
		{"role present", "GET", "/admin/panel", root, 200, ""},
		{"deny rule", "GET", "/blocked/x", root, 403, "denied"},
		{"default deny", "GET", "/elsewhere", root, 403, "denied"},
		{"dot segments resolved before matching", "GET", "/public/../admin/panel", alice, 403, "forbidden"},
		{"encoded slash refused", "GET", "/api/..%2fadmin", root, 400, "invalid-path"},
		{"backslash refused", "GET", `/public/..\admin`, root, 400, "invalid-path"},
		{"named upstream", "GET", "/other/x", alice, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.token != "" {
				h = bearer(tc.token)
			}
			r := e.do(tc.method, tc.target, "", h...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.slug != "" && r.problemType(t) != tc.slug {
				t.Errorf("problem %s, want %s", r.problemType(t), tc.slug)
			}
		})
	}
}

func TestUpstreamSeesIdentityNotSpoofs(t *testing.T) {
	e := newEnv(t, nil)
	u := e.addUser("alice", "alice-password-1", "user", "ops")
	tok, _ := e.login("alice", "alice-password-1")
	r := e.do("GET", "/api/./items/../items?x=%41&y=1", "", append(bearer(tok),
		"X-User-Id", "spoofed", "x-user-roles", "admin", "X-User-Name", "mallory",
		"X-Forwarded-For", "203.0.113.9", "X-Forwarded-Host", "evil.example", "X-Request-Id", "client-chosen")...)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	rep := echoed(t, r)
	if rep.Path != "/api/items" || rep.Query != "x=%41&y=1" {
		t.Errorf("upstream path %q query %q", rep.Path, rep.Query)
	}
	want := map[string]string{"X-User-Id": u.ID, "X-User-Name": "alice", "X-User-Roles": "user,ops", "X-User-Email": "alice@example.com"}
	for k, v := range want {
		if got := rep.Headers[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %v, want [%s]", k, got, v)
		}
	}
	if got := rep.Headers["X-Forwarded-For"]; len(got) != 1 || strings.Contains(got[0], "203.0.113.9") {
		t.Errorf("untrusted X-Forwarded-For passed on: %v", got)
	}
	if got := rep.Headers["Authorization"]; len(got) != 0 {
		t.Errorf("access token forwarded: %v", got)
	}
	if got := rep.Headers["X-Request-Id"]; len(got) != 1 || got[0] != r.header.Get("X-Request-Id") {
		t.Errorf("request id upstream %v, client %q", got, r.header.Get("X-Request-Id"))
	}
}

func TestForwardAuthVerify(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["0.0.0.0/32"]`, 1)
	})
	u := e.addUser("alice", "alice-password-1", "user")
	tok, _ := e.login("alice", "alice-password-1")
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"nginx allowed", append(bearer(tok), "X-Original-Method", "GET", "X-Original-URI", "/api/x?y=1"), 200},
		{"nginx no token", []string{"X-Original-Method", "GET", "X-Original-URI", "/api/x"}, 401},
		{"nginx role denied", append(bearer(tok), "X-Original-Method", "GET", "X-Original-URI", "/admin/x"), 403},
		{"nginx traversal", append(bearer(tok), "X-Original-Method", "GET", "X-Original-URI", "/public/../admin/x"), 403},
		// nginx's auth_request turns a 400 into 500: in its form, 403.
		{"nginx encoded slash", append(bearer(tok), "X-Original-Method", "GET", "X-Original-URI", "/public/..%2fadmin"), 403},
		{"nginx method missing", append(bearer(tok), "X-Original-URI", "/api/x"), 403},
		{"Traefik/Caddy encoded slash", append(bearer(tok), "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public/..%2fadmin"), 400},
		{"Traefik/Caddy method missing", append(bearer(tok), "X-Forwarded-Uri", "/api/x"), 400},
		{"traefik allowed", append(bearer(tok), "X-Forwarded-Method", "POST", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example", "X-Forwarded-Uri", "/api/y"), 200},
		{"public", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public/z"}, 200},
		{"missing uri", bearer(tok), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/auth/verify", "", tc.headers...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 200 && len(tc.headers) > 2 && tc.name != "public" && r.header.Get("X-User-Id") != u.ID {
				t.Errorf("X-User-Id = %q", r.header.Get("X-User-Id"))
			}
			if tc.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestForwardAuthIgnoresUntrustedPeers(t *testing.T) {
	e := newEnv(t, nil) // app.Test's peer 0.0.0.0 is not in 10.0.0.0/8
	e.addUser("alice", "alice-password-1", "user")
	tok, _ := e.login("alice", "alice-password-1")
	r := e.do("GET", "/auth/verify", "", append(bearer(tok), "X-Original-Method", "GET", "X-Original-URI", "/api/x")...)
	if r.status != 403 || r.problemType(t) != "denied" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestEveryErrorIsAProblem(t *testing.T) {
	e := newEnv(t, nil)
	e.g.routes.add("/boom", "boom", map[string]handler{"GET": func(*fiber.Ctx, *request) error { panic("boom") }})
	for _, tc := range []struct {
		method, target string
		status         int
		slug           string
	}{
		{"GET", "/auth", 405, "method-not-allowed"},
		{"GET", "/boom", 500, "internal"},
		{"GET", "/nowhere", 403, "denied"},
	} {
		r := e.do(tc.method, tc.target, "")
		if r.status != tc.status || r.problemType(t) != tc.slug {
			t.Errorf("%s %s: %d %s", tc.method, tc.target, r.status, r.body)
		}
	}
	if r := e.do("GET", "/auth", ""); r.header.Get("Allow") != "POST" {
		t.Errorf("405 Allow = %q", r.header.Get("Allow"))
	}
	for _, target := range []string{"/%zz", "/a%00b", "/a%2fb", "/public/..%2f..%2fadmin", "/a\\b", "http://evil.example/api/x", "*"} {
		r := e.raw("GET "+target+" HTTP/1.1", "Authorization", "Bearer secret-token-value")
		if slug := r.problemType(t); r.status != 400 || (slug != "invalid-path" && slug != "bad-request") {
			t.Errorf("raw %q: %d %s", target, r.status, r.body)
		}
		if strings.Contains(string(r.body), "secret-token-value") {
			t.Errorf("raw %q: problem reflects request headers: %s", target, r.body)
		}
	}
}

// downStore fails every call as an unreachable backend does.
type downStore struct{ store.Store }

var errDown = errors.Join(store.ErrUnavailable, errors.New("dial tcp: connection refused"))

func (downStore) GetUserByUsername(context.Context, string) (store.User, error) {
	return store.User{}, errDown
}
func (downStore) RotateRefresh(context.Context, string, store.Rotation) (store.Session, error) {
	return store.Session{}, errDown
}
func (downStore) Ping(context.Context) error { return errDown }

func TestStoreOutageIs503(t *testing.T) {
	e := newEnv(t, nil)
	e.g.st = downStore{e.st}
	e.g.acct.UseStore(downStore{e.st})
	e.g.sessions = nil
	for _, tc := range []struct{ method, target, body string }{
		{"POST", "/auth", `{"username":"alice","password":"alice-password-1"}`},
		{"GET", "/readyz", ""},
	} {
		r := e.do(tc.method, tc.target, tc.body)
		if r.status != 503 || r.problemType(t) != "store-unavailable" {
			t.Errorf("%s: %d %s", tc.target, r.status, r.body)
		}
	}
	if r := e.do("GET", "/healthz", ""); r.status != 200 {
		t.Errorf("healthz during outage: %d", r.status)
	}
}

func TestJWKSAndMetrics(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/.well-known/jwks.json", "")
	if r.status != 200 {
		t.Fatal(r.status)
	}
	keys, _ := r.json(t)["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["kty"] != "OKP" {
		t.Errorf("jwks = %s", r.body)
	}
	e.do("POST", "/auth", `{"username":"x","password":"y-password"}`)
	m := e.admin("GET", "/metrics")
	for _, want := range []string{`authgate_logins_total{outcome="invalid_credentials"} 1`, `authgate_http_requests_total{code="401",route="login"} 1`, "authgate_http_request_duration_seconds"} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
