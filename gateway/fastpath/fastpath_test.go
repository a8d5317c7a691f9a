package fastpath

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestEligibleServesOnlyBodilessPersistentRequests: any method, which
// Handler.Route then decides (the gateway proxies GET and HEAD, and answers
// forward-auth, which nginx asks with the original method).
func TestEligibleServesOnlyBodilessPersistentRequests(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nuPgRaDe: h2c\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: a\r\n\r\n", true}, // bodiless: Route decides
		{"DELETE / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", false},
		{"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", true},
	}
	for _, tc := range tests {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader([]byte(tc.raw)))); err != nil {
			t.Fatalf("%q: %v", tc.raw, err)
		}
		if got := eligible(&h); got != tc.want {
			t.Errorf("eligible(%q) = %v, want %v", tc.raw, got, tc.want)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"GET / HTTP/1.1\nHost: a\n\n", -1}, // bare LF: the Fiber app decides
		{"", -1},
	}
	for _, tc := range tests {
		if got := headEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestPrefixConnReadsTheLoopsBytesFirst(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	h := newHandoff(a.LocalAddr())
	h.push(a, []byte("GET / HTTP/1.1\r\n"))
	c, err := h.Accept()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = b.Write([]byte("Host: a\r\n\r\n")); _ = b.Close() }()
	got, _ := io.ReadAll(c)
	if string(got) != "GET / HTTP/1.1\r\nHost: a\r\n\r\n" {
		t.Fatalf("read %q", got)
	}
	_ = h.Close()
	if _, err := h.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

func TestHandoffClosesConnectionsAfterClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	h := newHandoff(a.LocalAddr())
	_ = h.Close()
	h.push(a, nil)
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("a connection pushed after Close is still open")
	}
}

func TestResolvedIPLiteralAndName(t *testing.T) {
	var r resolved
	if err := r.init("127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	if ap, ok := r.pick(); !ok || ap != netip.MustParseAddrPort("127.0.0.1:8080") {
		t.Fatalf("pick = %v %v", ap, ok)
	}
	var n resolved
	if err := n.init("backend.internal:80"); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.pick(); ok {
		t.Fatal("a name has an address before any lookup")
	}
	if err := n.init("no-port"); err == nil {
		t.Fatal("init accepted an address without a port")
	}
}
