package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authgate/auth"
	"authgate/config"
	"authgate/gateway/echo"
)

const passkeyConfig = `
listen: "127.0.0.1:0"
data_dir: %DATA%
store: {type: memory}
upstreams: {default: %UPSTREAM%}
passwords: {memory_kib: 1024, iterations: 1, parallelism: 1}
transport:
  cookies: {enabled: true}
rate_limits: {login_per_ip: "1000-M", login_per_username: "1000-M", refresh_per_ip: "1000-M"}
users:
  seed:
    - {username: pat, password_hash: "%PAT%", roles: [user]}
    - {username: sam, password_hash: "%SAM%", roles: [user]}
browser:
  enabled: true
mfa:
  enabled: true
  encryption_key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
  webauthn: {rp_id: localhost, origins: ["%ORIGIN%"]}
rules:
  - {path: /admin/**, policy: authenticated, mfa: required}
  - {path: /api/**, policy: authenticated}
default_policy: deny
`

// TestPasskeyInChromium enrols a passkey in headless Chromium with a
// virtual authenticator (Chrome DevTools Protocol WebAuthn domain), signs
// out, signs in with the password and the passkey, reaches a path whose
// rule says mfa: required, and shows that a password-only session is sent
// to the second-step page there instead (passkey.js).
func TestPasskeyInChromium(t *testing.T) {
	need(t, "Chromium is not installed at /usr/bin/chromium", exists("/usr/bin/chromium"))
	node, err := exec.LookPath("node")
	need(t, "node is not installed", err == nil)
	need(t, "e2e/node_modules/playwright-core is missing (run npm ci in e2e/)", exists("node_modules/playwright-core"))

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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// http://localhost is a secure context, as WebAuthn needs; the
	// relying-party id is its host.
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	y := strings.NewReplacer("%DATA%", t.TempDir(), "%UPSTREAM%", up.URL, "%PAT%", hash("pat-password-1"),
		"%SAM%", hash("sam-password-1"), "%ORIGIN%", base).Replace(passkeyConfig)
	serveGateway(t, y, ln)

	out := os.Getenv("AUTHGATE_E2E_OUT")
	if out == "" {
		out = t.TempDir()
	}
	cmd := exec.Command(node, "passkey.js")
	cmd.Env = append(os.Environ(), "BASE="+base, "OUT="+out)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err = cmd.Run()
	t.Logf("passkey.js (%s):\n%s", time.Since(start).Round(time.Second), log.String())
	if err != nil {
		t.Fatalf("passkey.js: %v", err)
	}
	if !strings.Contains(log.String(), " 0 failed") {
		t.Fatal("passkey.js reported failures")
	}
	if os.Getenv("AUTHGATE_UPDATE_SCREENSHOTS") != "" {
		for _, n := range []string{"mfa", "security"} {
			b, err := os.ReadFile(filepath.Join(out, n+".png"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile("../docs/img/"+n+".png", b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
