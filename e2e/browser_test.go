// Package e2e proves browser sign-in in a real browser: headless Chromium,
// driven by signin.js (playwright-core), through authgate as the proxy and
// through nginx auth_request (examples/nginx.conf), against the echo
// upstream. AUTHGATE_TEST_BROWSER makes a missing Chromium, Node, nginx or
// `npm ci` a failure instead of a skip (.ci/run sets it).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"authgate/auth"
	"authgate/config"
	"authgate/gateway"
	"authgate/gateway/echo"
	"authgate/internal/hydratest"
	"authgate/internal/nginxtest"
)

func need(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("AUTHGATE_TEST_BROWSER") != "" {
		t.Fatalf("AUTHGATE_TEST_BROWSER is set but %s", what)
	}
	t.Skipf("%s (set AUTHGATE_TEST_BROWSER to make that a failure)", what)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// serveGateway runs a gateway of the config y on ln until the test ends.
func serveGateway(t *testing.T, y string, ln net.Listener) {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, limits, err := gateway.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g, err := gateway.New(cfg, st, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LimiterStore: limits})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln, nil) }()
	t.Cleanup(func() { cancel(); <-served })
}

const e2eConfig = `
listen: "127.0.0.1:0"
data_dir: %DATA%
store: {type: memory}
upstreams: {default: %UPSTREAM%}
passwords: {memory_kib: 1024, iterations: 1, parallelism: 1}
tokens: {access_ttl: 2s, leeway: 1ms}
transport:
  cookies: {enabled: true, same_site: none}
trusted_proxies: ["127.0.0.1/32"]
rate_limits: {login_per_ip: "1000-M", login_per_username: "1000-M", refresh_per_ip: "1000-M"}
users:
  registration: true
  seed:
    - {username: alice, password_hash: "%ALICE%", roles: [user]}
    - {username: mallory, password_hash: "%MALLORY%", roles: [user]}
    - {username: bob-proxy, password_hash: "%BOB%", roles: [user], must_change_password: true}
    - {username: bob-nginx, password_hash: "%BOB%", roles: [user], must_change_password: true}
browser:
  enabled: true
  scoped_sign_in: [{name: admin, roles: [admin], title: "Admin console"}]
rules:
  - {path: /api/**, policy: authenticated}
default_policy: deny
`

// forms is the other site: a page of forms that post to authgate.
var forms = template.Must(template.New("forms").Parse(`<!DOCTYPE html><html><body><h1>Win a prize</h1>
<form id="logout" method="post" action="{{.}}/logout"><button>logout</button></form>
<form id="signout" method="post" action="{{.}}/auth/ui/sign-out"><button>signout</button></form>
<form id="transfer" method="post" action="{{.}}/api/transfer"><input name="amount" value="1000"><button>transfer</button></form>
<form id="password" method="post" action="{{.}}/auth/ui/password"><input name="current_password" value="x"><input name="new_password" value="attacker-chosen-1"><button>password</button></form>
<form id="login" method="post" action="{{.}}/auth/ui/sign-in"><input name="username" value="mallory"><input name="password" value="mallory-password-1"><button>login</button></form>
<form id="jsonlogin" method="post" action="{{.}}/auth"><input name="username" value="mallory"><input name="password" value="mallory-password-1"><button>jsonlogin</button></form>
</body></html>`))

func TestBrowserSignInInChromium(t *testing.T) {
	need(t, "Chromium is not installed at /usr/bin/chromium", exists("/usr/bin/chromium"))
	node, err := exec.LookPath("node")
	need(t, "node is not installed", err == nil)
	need(t, "e2e/node_modules/playwright-core is missing (run npm ci in e2e/)", exists("node_modules/playwright-core"))
	nginx, err := exec.LookPath("nginx")
	if err != nil && exists("/usr/sbin/nginx") {
		nginx, err = "/usr/sbin/nginx", nil
	}
	need(t, "nginx is not installed", err == nil)

	up := httptest.NewServer(echo.Handler())
	t.Cleanup(up.Close)
	hasher := auth.NewHasher(config.Passwords{Memory: 1024, Iterations: 1, Parallelism: 1, MaxConcurrent: 2})
	hash := func(p string) string {
		h, err := hasher.Hash(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	y := strings.NewReplacer("%DATA%", t.TempDir(), "%UPSTREAM%", up.URL, "%ALICE%", hash("alice-password-1"),
		"%MALLORY%", hash("mallory-password-1"), "%BOB%", hash("bob-password-1")).Replace(e2eConfig)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agPort := ln.Addr().(*net.TCPAddr).Port
	// A real OpenID provider behind the sign-in page's "Sign in with
	// Hydra" (issue 10): Ory Hydra, when built (CI builds it).
	provider := ""
	if _, ok := hydratest.Available(); ok || os.Getenv("AUTHGATE_TEST_OIDC") != "" {
		hy := hydratest.Start(t)
		callback := fmt.Sprintf("http://localhost:%d/auth/oauth/hydra/callback", agPort)
		id, secret := hy.Client(callback)
		hy.Next(hydratest.Person{Subject: "hy-carol", Email: "carol@example.com", EmailVerified: true, Username: "carol-hydra"})
		y += "providers:\n  - {name: hydra, type: oidc, display_name: Hydra, issuer: \"" + hy.Issuer + "\", client_id: \"" + id +
			"\", client_secret: \"" + secret + "\", redirect_url: \"" + callback + "\", allow_signup: true}\n"
		provider = "Hydra"
	}
	serveGateway(t, y, ln)

	nginxAddr := startNginx(t, nginx, fmt.Sprintf("127.0.0.1:%d", agPort), strings.TrimPrefix(up.URL, "http://"))
	_, nginxPort, _ := net.SplitHostPort(nginxAddr)

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = forms.Execute(w, r.URL.Query().Get("target"))
	}))
	t.Cleanup(evil.Close)

	out := os.Getenv("AUTHGATE_E2E_OUT")
	if out == "" {
		out = t.TempDir()
	}
	proxyBase := fmt.Sprintf("http://localhost:%d", agPort)
	cmd := exec.Command(node, "signin.js")
	cmd.Env = append(os.Environ(),
		"MODES=proxy="+proxyBase+",nginx=http://localhost:"+nginxPort,
		"EVIL="+evil.URL, // 127.0.0.1: another site than localhost
		"OUT="+out, "TTL_MS=2000", "PROVIDER="+provider)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err = cmd.Run()
	t.Logf("signin.js (%s):\n%s", time.Since(start).Round(time.Second), log.String())
	if err != nil {
		t.Fatalf("signin.js: %v", err)
	}
	if !strings.Contains(log.String(), " 0 failed") {
		t.Fatal("signin.js reported failures")
	}
	pageSizes(t, proxyBase, out)
	if os.Getenv("AUTHGATE_UPDATE_SCREENSHOTS") != "" {
		b, err := os.ReadFile(filepath.Join(out, "sign-in.png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../docs/img/sign-in.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", out)
}

// pageSizes logs what each page costs in bytes (HTML, headers excluded; the
// pages load nothing else) and writes them to sizes.txt.
func pageSizes(t *testing.T, base, out string) {
	sizes := map[string]int{}
	for _, p := range []string{"sign-in", "sign-in/admin", "register", "forgot-password", "reset-password?token=a.b",
		"verify-email?token=a.b", "sign-out", "signed-out"} {
		res, err := http.Get(base + "/auth/ui/" + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		sizes[p] = len(b)
	}
	var names []string
	for n := range sizes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%-26s %6d bytes\n", n, sizes[n])
	}
	t.Logf("page sizes:\n%s", b.String())
	_ = os.WriteFile(filepath.Join(out, "sizes.txt"), []byte(b.String()), 0o644)
}

// startNginx runs nginx with ../examples/nginx.conf rendered for authgate
// and the upstream; everything it writes stays in a temporary directory.
func startNginx(t *testing.T, bin, authgate, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ex, err := os.ReadFile("../examples/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	site := strings.NewReplacer("{{LISTEN}}", addr, "{{AUTHGATE}}", authgate, "{{UPSTREAM}}", upstream).Replace(string(ex))
	cmd, errLog, err := nginxtest.Prepare(bin, dir, site)
	if err != nil {
		t.Fatal(err)
	}
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(errLog)
			t.Logf("nginx: %s\n%s", outb.String(), b)
		}
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i > 100 {
			t.Fatalf("nginx did not listen: %s", outb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
