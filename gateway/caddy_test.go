package gateway

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// startCaddy runs a real Caddy with ../examples/Caddyfile rendered for
// authgate and upstream, and returns its address. A test-only global options
// block turns off the admin API and automatic HTTPS and keeps Caddy's files
// in a temporary directory.
func startCaddy(t *testing.T, authgate, upstream string) string {
	t.Helper()
	bin := proxyBinary(t, "caddy", "AUTHGATE_TEST_CADDY", "/usr/bin/caddy")
	dir := t.TempDir()
	port := freePort(t)
	site := renderExample(t, "Caddyfile", map[string]string{"LISTEN": "http://:" + port, "AUTHGATE": authgate, "UPSTREAM": upstream})
	sitePath := filepath.Join(dir, "authgate.caddy")
	if err := os.WriteFile(sitePath, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`{
	admin off
	auto_https off
	default_bind 127.0.0.1
	storage file_system {
		root %s
	}
}
import %s
`, filepath.Join(dir, "storage"), sitePath)
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	addr := "127.0.0.1:" + port
	startProxy(t, cmd, addr)
	return addr
}

// TestCaddyForwardAuth runs examples/Caddyfile in a real Caddy in front of an
// echo upstream, with authgate deciding through forward_auth.
func TestCaddyForwardAuth(t *testing.T) {
	up := newCountingUpstream(t)
	e := newEnv(t, forwardAuthConfig)
	addr := startCaddy(t, e.addr(), up.addr())
	checkForwardAuth(t, e, proxyUnderTest{addr: addr, badRequest: 400}, up)
}
