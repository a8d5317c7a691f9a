package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authgate/gateway/echo"
)

// These helpers run authgate behind real reverse proxies (nginx, Caddy)
// configured with the files in ../examples, so that the examples users copy
// are the configurations that were tested.

// examplesDir holds the example proxy configurations.
const examplesDir = "../examples"

// proxyBinary finds a reverse proxy's binary. When it is missing the test is
// skipped, unless env is set (CI): then it fails.
func proxyBinary(t *testing.T, name, env string, fallbacks ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks { // /usr/sbin is not on every user's PATH
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv(env) != "" {
		t.Fatalf("%s is set but %s is not installed", env, name)
	}
	t.Skipf("%s is not installed (set %s to make that a failure)", name, env)
	return ""
}

// renderExample reads an example file and replaces its {{NAME}} placeholders.
// Every placeholder must be given and used.
func renderExample(t *testing.T, file string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, file))
	if err != nil {
		t.Fatalf("example: %v", err)
	}
	s := string(b)
	for k, v := range vars {
		ph := "{{" + k + "}}"
		if !strings.Contains(s, ph) {
			t.Fatalf("example %s has no placeholder %s", file, ph)
		}
		s = strings.ReplaceAll(s, ph, v)
	}
	if i := strings.Index(s, "{{"); i >= 0 {
		t.Fatalf("example %s: placeholder left after rendering: %.40q", file, s[i:])
	}
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// proxyProcess is a reverse proxy started by a test.
type proxyProcess struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // of Wait, after done
}

// lockedBuffer collects a child's output while tests may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProxy runs cmd until the test ends and waits until addr accepts
// connections. On failure it prints the process output and the given log
// files.
func startProxy(t *testing.T, cmd *exec.Cmd, addr string, logs ...string) *proxyProcess {
	t.Helper()
	p := &proxyProcess{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), p.out.String())
			for _, f := range logs {
				b, _ := os.ReadFile(f)
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it listened: %v", filepath.Base(cmd.Path), p.err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %v", filepath.Base(cmd.Path), addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingUpstream is the app behind the proxy: the echo handler, counting
// the requests that reach it.
type countingUpstream struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	t.Helper()
	u := &countingUpstream{}
	h := echo.Handler()
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// addr is host:port.
func (u *countingUpstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

// rawRequest sends one HTTP/1.1 request as raw bytes (so that no client
// normalizes the target) and reads the answer. headers are name, value pairs;
// a "Host" pair replaces the default Host: localhost.
func rawRequest(t *testing.T, addr, method, target, body string, headers ...string) resp {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	host := "localhost"
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			host = headers[i+1]
			continue
		}
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("Host: " + host + "\r\nConnection: close\r\n")
	if body != "" {
		b.WriteString("Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%s %s: body: %v", method, target, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: rb}
}

// forwardAuthConfig makes authgate trust the proxy on loopback and adds the
// rules the proxy tests need besides the harness's ones.
func forwardAuthConfig(y string) string {
	y = strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["127.0.0.1/32"]`, 1)
	return strings.Replace(y, "rules:\n", `rules:
  - {path: /reports/**, methods: [GET, HEAD], policy: authenticated}
  - {path: /hosted/**, hosts: [app.example], policy: public}
`, 1)
}

// proxyUnderTest describes how a reverse proxy answers what authgate refuses.
type proxyUnderTest struct {
	// addr is where the proxy listens.
	addr string
	// badRequest is the status the client gets when authgate refuses the
	// request as malformed: 400 through every proxy (nginx would turn a 400
	// from its auth_request into 500: see Gateway.verify).
	badRequest int
}

// identityHeaders returns the headers that reached the upstream under an
// identity header's name, in any case and with '_' for '-', keyed by the
// spelling the upstream saw. Empty values are kept.
func identityHeaders(rep echo.Reply) map[string][]string {
	out := map[string][]string{}
	for k, v := range rep.Headers {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if strings.HasPrefix(n, "x-user-") {
			out[k] = v
		}
	}
	return out
}

// checkForwardAuth drives the forward-auth contract through a running proxy
// in front of upstream, with authgate (e) deciding.
func checkForwardAuth(t *testing.T, e *testEnv, p proxyUnderTest, up *countingUpstream) {
	alice := e.addUser("alice", "alice-password-1", "user")
	root := e.addUser("root", "root-password-1", "admin")
	login := func(user, password string) string {
		t.Helper()
		r := rawRequest(t, p.addr, "POST", "/auth", `{"username":"`+user+`","password":"`+password+`"}`)
		if r.status != 200 {
			t.Fatalf("login %s through the proxy: %d %s", user, r.status, r.body)
		}
		tok, _ := r.json(t)["access_token"].(string)
		if tok == "" {
			t.Fatalf("login %s: no access token in %s", user, r.body)
		}
		return tok
	}
	aliceTok, rootTok := login("alice", "alice-password-1"), login("root", "root-password-1")
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	spoofs := []string{
		"X-User-Id", "spoofed-id", "X-User-Id", "spoofed-id-2", "x-user-roles", "admin",
		"X-User-Name", "mallory", "X-User-Email", "mallory@example.com",
		"X_User_Id", "spoofed-underscore", "X_User_Roles", "admin",
	}
	with := func(a []string, b ...string) []string { return append(append([]string(nil), a...), b...) }
	aliceID := map[string]string{"X-User-Id": alice.ID, "X-User-Name": "alice", "X-User-Email": "alice@example.com", "X-User-Roles": "user"}
	rootID := map[string]string{"X-User-Id": root.ID, "X-User-Name": "root", "X-User-Email": "root@example.com", "X-User-Roles": "admin"}
	noID := map[string]string{}

	for _, tc := range []struct {
		name           string
		method, target string
		body           string
		headers        []string
		status         int               // 0: p.badRequest
		identity       map[string]string // on 200: exactly these identity headers upstream
		path           string            // on 200, when set: the path the upstream saw
	}{
		{"allowed request reaches the upstream with authgate's identity, not the client's",
			"GET", "/api/items?x=1", "", with(auth(aliceTok), spoofs...), 200, aliceID, "/api/items"},
		{"admin role reaches admin routes", "GET", "/admin/panel", "", auth(rootTok), 200, rootID, "/admin/panel"},
		{"request body reaches the upstream", "POST", "/api/upload", `{"hello":"world"}`, auth(aliceTok), 200, aliceID, "/api/upload"},
		{"public route passes without a token and without spoofed identity",
			"GET", "/public/page", "", spoofs, 200, noID, "/public/page"},
		{"public route with a token carries the identity", "GET", "/public/page", "", auth(aliceTok), 200, aliceID, ""},
		{"no token is 401", "GET", "/api/items", "", spoofs, 401, nil, ""},
		{"forged token is 401", "GET", "/api/items", "", auth(aliceTok + "x"), 401, nil, ""},
		{"missing role is 403", "GET", "/admin/panel", "", with(auth(aliceTok), spoofs...), 403, nil, ""},
		{"deny rule is 403 even for admins", "GET", "/blocked/x", "", auth(rootTok), 403, nil, ""},
		{"no rule is 403 (default deny)", "GET", "/elsewhere", "", auth(rootTok), 403, nil, ""},
		{"method is the original one: GET allowed", "GET", "/reports/q", "", auth(aliceTok), 200, aliceID, "/reports/q"},
		{"method is the original one: POST falls to default deny", "POST", "/reports/q", `{}`, auth(aliceTok), 403, nil, ""},
		{"client cannot name another method", "POST", "/reports/q", `{}`,
			with(auth(aliceTok), "X-Original-Method", "GET", "X-Forwarded-Method", "GET"), 403, nil, ""},
		{"client cannot name another URI", "GET", "/admin/panel", "",
			with(auth(aliceTok), "X-Original-URI", "/public/x", "X-Forwarded-Uri", "/public/x"), 403, nil, ""},
		{"client cannot name another URI without a token", "GET", "/api/items", "",
			[]string{"X-Original-URI", "/public/x", "X-Forwarded-Uri", "/public/x"}, 401, nil, ""},
		{"host rule sees the real Host", "GET", "/hosted/x", "", []string{"Host", "app.example"}, 200, noID, "/hosted/x"},
		{"client cannot name another host", "GET", "/hosted/x", "", []string{"X-Forwarded-Host", "app.example"}, 403, nil, ""},
		{"forward-auth endpoint is not public", "GET", "/auth/verify", "",
			[]string{"X-Original-URI", "/public/x", "X-Forwarded-Uri", "/public/x"}, 404, nil, ""},

		// Path tricks: authgate decides on the normalized path, /admin/x,
		// which needs a token and the admin role.
		{"dot segments: no token", "GET", "/public/../admin/x", "", nil, 401, nil, ""},
		{"dot segments: wrong role", "GET", "/public/../admin/x", "", auth(aliceTok), 403, nil, ""},
		{"encoded dots: no token", "GET", "/public/%2e%2e/admin/x", "", nil, 401, nil, ""},
		{"encoded dots: wrong role", "GET", "/public/%2e%2e/admin/x", "", auth(aliceTok), 403, nil, ""},
		{"double slash: no token", "GET", "//admin/x", "", nil, 401, nil, ""},
		{"double slash: wrong role", "GET", "//admin/x", "", auth(aliceTok), 403, nil, ""},
		{"encoded slash is refused", "GET", "/admin%2fx", "", auth(rootTok), 0, nil, ""},
		{"encoded slash into public is refused", "GET", "/public/..%2fadmin/x", "", nil, 0, nil, ""},
		{"dot segments with the role", "GET", "/public/../admin/x", "", auth(rootTok), 200, rootID, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.status
			if want == 0 {
				want = p.badRequest
			}
			before := up.hits.Load()
			r := rawRequest(t, p.addr, tc.method, tc.target, tc.body, tc.headers...)
			if r.status != want {
				t.Fatalf("%s %s: status %d, want %d: %s", tc.method, tc.target, r.status, want, r.body)
			}
			reached := up.hits.Load() - before
			if want != 200 {
				if reached != 0 {
					t.Fatalf("%s %s was refused (%d) but reached the upstream", tc.method, tc.target, r.status)
				}
				if want == 400 && !strings.Contains(string(r.body), "urn:authgate:problem:invalid-path") {
					t.Errorf("400 without authgate's problem document: %s", r.body)
				}
				if want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 with WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				return
			}
			if reached != 1 {
				t.Fatalf("the upstream saw %d requests, want 1", reached)
			}
			rep := echoed(t, r)
			if rep.Method != tc.method {
				t.Errorf("upstream method %s, want %s", rep.Method, tc.method)
			}
			if tc.path != "" && rep.Path != tc.path {
				t.Errorf("upstream path %q, want %q", rep.Path, tc.path)
			}
			if int(rep.BodyBytes) != len(tc.body) {
				t.Errorf("upstream got %d body bytes, want %d", rep.BodyBytes, len(tc.body))
			}
			if got := rep.Headers["Authorization"]; len(got) != 0 {
				t.Errorf("the access token reached the upstream (%d Authorization headers)", len(got))
			}
			got := identityHeaders(rep)
			for k, v := range got {
				if len(v) != 1 || v[0] != tc.identity[k] {
					t.Errorf("upstream %s = %q, want %q", k, v, tc.identity[k])
				}
			}
			for k, v := range tc.identity {
				if _, ok := got[k]; !ok {
					t.Errorf("upstream lacks %s (want %q)", k, v)
				}
			}
		})
	}

	t.Run("logout makes the next request 401", func(t *testing.T) {
		tok := login("alice", "alice-password-1")
		if r := rawRequest(t, p.addr, "GET", "/api/items", "", auth(tok)...); r.status != 200 {
			t.Fatalf("before logout: %d %s", r.status, r.body)
		}
		if r := rawRequest(t, p.addr, "POST", "/logout", "", auth(tok)...); r.status != 204 {
			t.Fatalf("logout through the proxy: %d %s", r.status, r.body)
		}
		before := up.hits.Load()
		r := rawRequest(t, p.addr, "GET", "/api/items", "", auth(tok)...)
		if r.status != 401 || up.hits.Load() != before {
			t.Fatalf("after logout: %d (upstream reached: %v) %s", r.status, up.hits.Load() != before, r.body)
		}
	})
}
