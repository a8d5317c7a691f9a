package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/auth"
	"authgate/config"
	"authgate/gateway/echo"
	"authgate/store"
)

// testEnv is a gateway on the memory store in front of a real echo upstream.
type testEnv struct {
	t        testing.TB
	g        *Gateway
	st       store.Store
	upstream *httptest.Server
	cfg      *config.Config
	// hits counts the requests the upstream received.
	hits *atomic.Int64

	yaml       string
	listenAddr string
}

// newEnvLike starts another instance with e's config (same store).
func newEnvLike(t *testing.T, e *testEnv) *testEnv {
	return newEnv(t, func(string) string { return e.yaml })
}

const testConfig = `
listen: "127.0.0.1:0"
data_dir: %DATA%
store: {type: memory}
upstreams:
  default: %UPSTREAM%
  named:
    other: %UPSTREAM%
passwords: {memory_kib: 1024, iterations: 1, parallelism: 1}
rate_limits:
  login_per_ip: "1000-M"
  login_per_username: "1000-M"
  refresh_per_ip: "1000-M"
trusted_proxies: ["10.0.0.0/8"]
rules:
  - {path: /public/**, policy: public}
  - {path: /admin/**, policy: authenticated, roles: [admin]}
  - {path: /api/**, policy: authenticated}
  - {path: /blocked/**, policy: deny}
  - {path: /other/**, policy: authenticated, upstream: other}
  - {path: /secure/**, policy: authenticated, mfa: required}
  - {path: /stepup/**, policy: authenticated, mfa: required, max_age: 10m}
`

// newEnv builds a gateway; edit may change the YAML text first, and opts
// the Options.
func newEnv(t testing.TB, edit func(yaml string) string, opts ...func(*Options)) *testEnv {
	t.Helper()
	hits := new(atomic.Int64)
	eh := echo.Handler()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		eh.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	y := strings.NewReplacer("%DATA%", t.TempDir(), "%UPSTREAM%", up.URL).Replace(testConfig)
	if edit != nil {
		y = edit(y)
	}
	cfg, err := config.LoadBytes([]byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, limits, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	o := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LimiterStore: limits}
	for _, f := range opts {
		f(&o)
	}
	g, err := New(cfg, st, o)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return &testEnv{t: t, g: g, st: st, upstream: up, cfg: cfg, yaml: y, hits: hits}
}

// addUser creates an active user with the given password.
func (e *testEnv) addUser(name, password string, roles ...string) store.User {
	e.t.Helper()
	h, err := e.g.hasher.Hash(context.Background(), password)
	if err != nil {
		e.t.Fatal(err)
	}
	id, _ := auth.NewUserID()
	u := store.User{ID: id, Username: name, Email: name + "@example.com", PasswordHash: h,
		Roles: roles, Active: true, EmailVerified: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := e.st.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m
}

// problemType returns the slug of a problem document, checking its form.
func (r resp) problemType(t testing.TB) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json (status %d, body %s)", ct, r.status, r.body)
	}
	m := r.json(t)
	if st, _ := m["status"].(float64); int(st) != r.status {
		t.Fatalf("problem status %v != HTTP status %d", m["status"], r.status)
	}
	typ, _ := m["type"].(string)
	return strings.TrimPrefix(typ, "urn:authgate:problem:")
}

// do sends a request through app.Test.
func (e *testEnv) do(method, target string, body string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" && len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := e.g.App().Test(req, 10000)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// login returns the access and refresh tokens.
func (e *testEnv) login(user, password string) (string, string) {
	e.t.Helper()
	r := e.do("POST", "/auth", `{"username":"`+user+`","password":"`+password+`"}`)
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	m := r.json(e.t)
	return m["access_token"].(string), m["refresh_token"].(string)
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

var _ = fiber.MethodGet

// addr serves the gateway on a real loopback listener (once) and returns
// its address, for tests that must send raw bytes.
func (e *testEnv) addr() string {
	e.t.Helper()
	if e.listenAddr != "" {
		return e.listenAddr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = e.g.App().Listener(ln) }()
	e.t.Cleanup(func() { _ = e.g.App().Shutdown() })
	e.listenAddr = ln.Addr().String()
	return e.listenAddr
}

// raw writes a raw HTTP/1.1 request (Connection: close is added) and parses
// the answer, so that no client normalizes the target first.
func (e *testEnv) raw(requestLine string, headers ...string) resp {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.addr())
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(requestLine + "\r\nHost: localhost\r\nConnection: close\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		e.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatalf("%s: %v", requestLine, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: body}
}
