package gateway

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// admin sends a request to the admin listener's app.
func (e *testEnv) admin(method, target string) resp {
	e.t.Helper()
	a := e.g.AdminApp()
	if a == nil {
		e.t.Fatal("no admin app: admin_listen is off")
	}
	res, err := a.Test(httptest.NewRequest(method, target, nil), 10000)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// /metrics is not public unless an operator says so: by default it is served
// on the admin listener (loopback) only, and on the public listener the path
// is an ordinary proxied path that the rules decide (here: default deny).
func TestMetricsAreOnTheAdminListenerOnly(t *testing.T) {
	for _, tc := range []struct {
		name       string
		yaml       string
		public     bool // /metrics answered with metrics on listen
		adminOn    bool
		publicCode int
	}{
		{"default", "", false, true, 403},
		{"metrics_on_listen", "server: {metrics_on_listen: true}\n", true, true, 200},
		{"admin off", "admin_listen: \"off\"\n", false, false, 403},
		{"admin off, metrics on listen", "admin_listen: \"off\"\nserver: {metrics_on_listen: true}\n", true, false, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(y string) string { return y + tc.yaml })
			r := e.do("GET", "/metrics", "")
			isMetrics := strings.Contains(string(r.body), "go_goroutines")
			if r.status != tc.publicCode || isMetrics != tc.public {
				t.Errorf("GET /metrics on listen: %d, metrics=%v; want %d, metrics=%v", r.status, isMetrics, tc.publicCode, tc.public)
			}
			if (e.g.AdminApp() != nil) != tc.adminOn {
				t.Fatalf("admin app present = %v, want %v", e.g.AdminApp() != nil, tc.adminOn)
			}
			if !tc.adminOn {
				return
			}
			for target, want := range map[string]string{"/metrics": "authgate_http_requests_total{code=", "/healthz": `"ok"`, "/readyz": `"ready"`} {
				if a := e.admin("GET", target); a.status != 200 || !strings.Contains(string(a.body), want) {
					t.Errorf("admin GET %s: %d, body lacks %q", target, a.status, want)
				}
			}
		})
	}
}
