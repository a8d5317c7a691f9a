// Package nginxtest runs a real nginx for tests: a main config that keeps
// every file nginx writes in one directory and includes the site the test
// rendered there (as a distribution's conf.d would), and the command that
// runs it in the foreground as the current user.
package nginxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Prepare writes site as dir/authgate.conf and the main config that
// includes it, and returns the command that runs nginx with them and the
// path of its error log. The caller starts the command and waits for nginx
// to listen.
func Prepare(bin, dir, site string) (*exec.Cmd, string, error) {
	if err := os.WriteFile(filepath.Join(dir, "authgate.conf"), []byte(site), 0o600); err != nil {
		return nil, "", err
	}
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
		return nil, "", err
	}
	errLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf, "-e", errLog,
		"-g", fmt.Sprintf("daemon off; master_process off; pid %s; error_log %s;", filepath.Join(dir, "nginx.pid"), errLog))
	return cmd, errLog, nil
}
