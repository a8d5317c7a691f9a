package gateway

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"authgate/internal/nginxtest"
)

// startNginx runs a real nginx as the current user with ../examples/nginx.conf
// rendered for authgate and upstream, and returns its address. Everything it
// writes stays in a temporary directory.
func startNginx(t *testing.T, authgate, upstream string) string {
	t.Helper()
	bin := proxyBinary(t, "nginx", "AUTHGATE_TEST_NGINX", "/usr/sbin/nginx")
	dir := t.TempDir()
	addr := "127.0.0.1:" + freePort(t)
	site := renderExample(t, "nginx.conf", map[string]string{"LISTEN": addr, "AUTHGATE": authgate, "UPSTREAM": upstream})
	cmd, errLog, err := nginxtest.Prepare(bin, dir, site)
	if err != nil {
		t.Fatal(err)
	}
	startProxy(t, cmd, addr, errLog, filepath.Join(dir, "access.log"))
	return addr
}

// TestNginxForwardAuth runs examples/nginx.conf in a real nginx in front of
// an echo upstream, with authgate deciding through auth_request.
func TestNginxForwardAuth(t *testing.T) {
	up := newCountingUpstream(t)
	e := newEnv(t, forwardAuthConfig)
	addr := startNginx(t, e.addr(), up.addr())
	checkForwardAuth(t, e, proxyUnderTest{addr: addr, badRequest: 400}, up)
}

// TestNginxForwardAuthOnTheFastPath is TestNginxForwardAuth with authgate
// served by Serve, the fast path on (as bench.sh's FORWARD=1 runs it): the
// loops answer nginx's auth subrequests themselves.
func TestNginxForwardAuthOnTheFastPath(t *testing.T) {
	up := newCountingUpstream(t)
	e := newEnv(t, forwardAuthConfig)
	fast, _ := serveFast(t, e)
	addr := startNginx(t, fast, up.addr())
	s0, _, h0 := e.g.fast.Load().Counts()
	checkForwardAuth(t, e, proxyUnderTest{addr: addr, badRequest: 400}, up)
	s1, _, h1 := e.g.fast.Load().Counts()
	t.Logf("the loops answered %d requests, handed over %d connections", s1-s0, h1-h0)
	if s1-s0 < 10 {
		t.Errorf("the loops answered %d requests; want nginx's subrequests answered there", s1-s0)
	}
}

// TestNginxSendsBrowsersToSignIn: through examples/nginx.conf, a browser
// navigation without a session is sent to authgate's sign-in page with the
// original URL (query included) to return to, the page is reachable
// through nginx, and an API client still gets the 401 document.
func TestNginxSendsBrowsersToSignIn(t *testing.T) {
	up := newCountingUpstream(t)
	e := newEnv(t, func(y string) string { return forwardAuthConfig(y) + browserOn })
	checkBrowserMode(t, startNginx(t, e.addr(), up.addr()), up)
}

// TestCaddySendsBrowsersToSignIn is the same through examples/Caddyfile,
// where authgate's own 302 reaches the browser.
func TestCaddySendsBrowsersToSignIn(t *testing.T) {
	up := newCountingUpstream(t)
	e := newEnv(t, func(y string) string { return forwardAuthConfig(y) + browserOn })
	checkBrowserMode(t, startCaddy(t, e.addr(), up.addr()), up)
}

func checkBrowserMode(t *testing.T, addr string, up *countingUpstream) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(target string, h ...string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+addr+target, nil)
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_, _ = io.ReadAll(res.Body)
		return res
	}
	res := get("/api/x?a=1&b=2", "Sec-Fetch-Mode", "navigate", "Accept", "text/html")
	if want := "/auth/ui/sign-in?return_to=%2Fapi%2Fx%3Fa%3D1%26b%3D2"; res.StatusCode != 302 || res.Header.Get("Location") != want {
		t.Fatalf("navigation: %d %q, want 302 %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	if res := get(res.Header.Get("Location"), "Sec-Fetch-Mode", "navigate"); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("sign-in page through nginx: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res := get("/api/x", "Accept", "application/json"); res.StatusCode != 401 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("API client: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("the upstream was reached %d times", n)
	}
}
