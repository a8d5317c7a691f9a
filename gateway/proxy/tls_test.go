package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHTTPSUpstream(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprintf(w, "tls=%v host=%s", r.TLS != nil, r.Host)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	p := newProxy(t, Options{URL: srv.URL, ResponseTimeout: 300 * time.Millisecond,
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"}})
	addr := startGateway(t, p, plainDecision)

	tests := []struct {
		name, path string
		status     int
		body       string
	}{
		{"requests reach the upstream over TLS", "/x", 200, "tls=true host=" + srv.Listener.Addr().String()},
		{"the response timeout holds over TLS", "/slow", 504, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawExchange(t, addr, crlf("GET "+tt.path+" HTTP/1.1", "Host: app.example"))
			if resp.StatusCode != tt.status || (tt.body != "" && string(body) != tt.body) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}
