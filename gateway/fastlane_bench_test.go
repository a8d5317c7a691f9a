package gateway

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"authgate/gateway/fastpath"
	"authgate/gateway/proxy"
)

// BenchmarkFastPathRequest is the user-space work the fast path does for one
// proxied request besides its four system calls: parse the client's head,
// route it (normalize, match, token, header rewrite), parse the upstream's
// response head, build the client's head, and count and log it (level
// warn: no line).
func BenchmarkFastPathRequest(b *testing.B) {
	e := newBenchEnv(b, slog.LevelWarn)
	h, _, err := e.g.newFastHandler()
	if err != nil || len(h.ups) != len(e.g.proxies) {
		b.Fatalf("fast handler: %v", err)
	}
	req := benchRequest(e.token)
	rawReq := []byte(req.Header.String())
	rawResp := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 23:49:23 GMT\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n")
	var rd bytes.Reader
	br := bufio.NewReaderSize(&rd, 64<<10)
	var rh, out fasthttp.ResponseHeader
	var wb []byte
	ex := new(fastpath.Exchange)
	peer := netip.MustParseAddrPort("192.0.2.10:40000")
	b.ReportAllocs()
	for b.Loop() {
		ex.Header.Reset()
		rd.Reset(rawReq)
		br.Reset(&rd)
		if err := ex.Header.Read(br); err != nil {
			b.Fatal(err)
		}
		ex.Peer, ex.Start = peer, time.Now()
		if !h.Route(ex) {
			b.Fatal("not routed")
		}
		rd.Reset(rawResp)
		br.Reset(&rd)
		rh.Reset()
		if err := rh.Read(br); err != nil {
			b.Fatal(err)
		}
		out.Reset()
		out.DisableNormalizing()
		out.Set("X-Request-Id", ex.ID)
		proxy.CopyResponseHeader(&out, &rh)
		out.SetContentLength(rh.ContentLength())
		wb = out.AppendBytes(wb[:0])
		ex.Status = 200
		h.Done(ex)
		ex.Head = ex.Head[:0]
	}
}

// BenchmarkFastPathForwardAuth is the user-space work a loop does for one
// forward-auth request that it answers itself (nginx's auth_request as
// examples/nginx.conf sends it, from a trusted proxy, with a valid token):
// parse the head, Route (normalize, the original request's rules and
// token, the identity headers of the answer), write the answer's head,
// and count it (level warn: no log line).
func BenchmarkFastPathForwardAuth(b *testing.B) {
	e := newBenchEnv(b, slog.LevelWarn)
	h, _, err := e.g.newFastHandler()
	if err != nil {
		b.Fatalf("fast handler: %v", err)
	}
	rawReq := []byte("GET /auth/verify HTTP/1.1\r\nHost: authgate\r\n" +
		"X-Original-URI: /api/v1/orders/1234/items?page=2\r\nX-Original-Method: GET\r\n" +
		"X-Forwarded-Host: app.example.com\r\nX-Forwarded-Proto: http\r\nX-Forwarded-For: 192.0.2.10\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n" +
		"Authorization: Bearer " + e.token + "\r\nReferer: https://app.example.com/orders\r\n\r\n")
	var rd bytes.Reader
	br := bufio.NewReaderSize(&rd, 64<<10)
	var wb []byte
	ex := new(fastpath.Exchange)
	peer := netip.MustParseAddrPort("10.0.0.5:40000") // a trusted proxy
	b.ReportAllocs()
	for b.Loop() {
		ex.Header.Reset()
		rd.Reset(rawReq)
		br.Reset(&rd)
		if err := ex.Header.Read(br); err != nil {
			b.Fatal(err)
		}
		ex.Peer, ex.Start = peer, time.Now()
		if !h.Route(ex) {
			b.Fatal("not answered by the loop")
		}
		resp := ex.Answer()
		if resp.StatusCode() != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
		}
		resp.Header.SetContentLength(len(resp.Body()))
		wb = resp.Header.AppendBytes(wb[:0])
		ex.Status = 200
		h.Done(ex)
		resp.Reset()
	}
}
