package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestHTTPSUpstreamUnsolicitedBytesAreNotReused: over TLS, bytes the upstream
// sends after its response may already sit decrypted-to-be inside the TLS
// connection, where neither the socket nor the read buffer shows them; the
// connection must not carry the next request all the same.
func TestHTTPSUpstreamUnsolicitedBytesAreNotReused(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(ln, &tls.Config{Certificates: srv.TLS.Certificates})
	sent := make(chan struct{}, 1)
	t.Cleanup(func() { _ = tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					head, err := readHead(br)
					if err != nil {
						return
					}
					first, _ := headFields(head)
					path := strings.Fields(first)[1]
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+fmt.Sprint(len(path))+"\r\n\r\n"+path)
					if path == "/a" { // a second record, right behind the first
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nleaked")
						sent <- struct{}{}
					}
				}
			}()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	p := newProxy(t, Options{URL: "https://" + ln.Addr().String(),
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"}})
	addr := startGateway(t, p, plainDecision)
	for i := range 20 {
		for _, path := range []string{"/a", "/b"} {
			resp, body := rawExchange(t, addr, crlf("GET "+path+" HTTP/1.1", "Host: app.example"))
			if resp.StatusCode != 200 || string(body) != path {
				t.Fatalf("round %d: %s got %d %q", i, path, resp.StatusCode, body)
			}
			if path == "/a" {
				<-sent // the unasked bytes are on their way before /b is sent
			}
		}
	}
}
