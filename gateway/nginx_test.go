package gateway

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
	if err := os.WriteFile(filepath.Join(dir, "authgate.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	// The main config only keeps nginx's files in dir; the example is
	// included as a distribution's conf.d would include it.
	main := fmt.Sprintf(`events { worker_connections 64; }
http {
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    access_log %[1]s/access.log;
    include %[1]s/authgate.conf;
}
`, dir)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf, "-e", errLog,
		"-g", fmt.Sprintf("daemon off; master_process off; pid %s; error_log %s;", filepath.Join(dir, "nginx.pid"), errLog))
	startProxy(t, cmd, addr, errLog, filepath.Join(dir, "access.log"))
	return addr
}

// TestNginxForwardAuth runs examples/nginx.conf in a real nginx in front of
// an echo upstream, with authgate deciding through auth_request.
func TestNginxForwardAuth(t *testing.T) {
	up := newCountingUpstream(t)
	e := newEnv(t, forwardAuthConfig)
	addr := startNginx(t, e.addr(), up.addr())
	checkForwardAuth(t, e, proxyUnderTest{addr: addr, badRequest: 500}, up)
}
