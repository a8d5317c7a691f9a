package proxy

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// typicalRequest is a browser API call as it reaches the gateway.
var typicalRequest = crlf(
	"GET /api/orders?page=2 HTTP/1.1",
	"Host: app.example",
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
	"Accept: application/json",
	"Accept-Encoding: gzip, deflate, br",
	"Accept-Language: en-US,en;q=0.9",
	"Authorization: Bearer eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0."+strings.Repeat("x", 200)+".sig",
	"Cookie: access=tok; theme=dark; _ga=GA1.2.3",
	"Referer: https://app.example/orders",
	"X-Forwarded-For: 198.51.100.7",
	"X-Request-Id: 7f9c2ba4-e88f-11ee-9b4b-0242ac120002",
	"X-User-Id: spoofed",
	"Connection: keep-alive",
)

func BenchmarkHeaderRewrite(b *testing.B) {
	var src fasthttp.RequestHeader
	if err := src.Read(bufio.NewReader(strings.NewReader(typicalRequest))); err != nil {
		b.Fatal(err)
	}
	r := fuzzDecision
	var dst fasthttp.RequestHeader
	s := new(scratch)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst.Reset()
		rewriteRequestHeader(&dst, &src, &r, false, s)
	}
}

// BenchmarkForward measures a small GET end to end on loopback: a fasthttp
// client, the Fiber gateway calling Forward, a fasthttp upstream. Allocations
// are those of all three.
func BenchmarkForward(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	upstream := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go func() { _ = upstream.Serve(ln) }()
	b.Cleanup(func() { _ = upstream.Shutdown() })

	p := newProxy(b, Options{URL: "http://" + ln.Addr().String()})
	r := fuzzDecision
	addr := startGateway(b, p, func(*fiber.Ctx) *Request { return &r })
	client := &fasthttp.HostClient{Addr: addr}
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + addr + "/api/orders?page=2")
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp := fasthttp.AcquireResponse()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := client.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode() != 200 {
			b.Fatalf("status %d", resp.StatusCode())
		}
	}
}
