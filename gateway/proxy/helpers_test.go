package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// gatewayConfig is the Fiber configuration the package doc asks for.
func gatewayConfig() fiber.Config {
	return fiber.Config{
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		DisableStartupMessage:        true,
		ReadTimeout:                  10 * time.Second,
		WriteTimeout:                 10 * time.Second,
	}
}

// plainDecision forwards the client's own path and query with no identity.
func plainDecision(c *fiber.Ctx) *Request {
	return &Request{
		Path:     string(c.Request().URI().PathOriginal()),
		RawQuery: string(c.Request().URI().QueryString()),
	}
}

// errorStatus is how the gateway maps Forward's errors.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, ErrUpstreamTimeout):
		return fiber.StatusGatewayTimeout
	case errors.Is(err, ErrUpstreamUnavailable):
		return fiber.StatusBadGateway
	case errors.Is(err, ErrClientBody):
		return fiber.StatusBadRequest
	default:
		return fiber.StatusInternalServerError
	}
}

// startGateway serves a Fiber app on 127.0.0.1 whose every route decides
// with decide and forwards through p. It returns the listen address.
func startGateway(tb testing.TB, p *Proxy, decide func(*fiber.Ctx) *Request) string {
	tb.Helper()
	return startApp(tb, gatewayConfig(), func(c *fiber.Ctx) error {
		if err := p.Forward(c, decide(c)); err != nil {
			return c.Status(errorStatus(err)).SendString(err.Error())
		}
		return nil
	})
}

// startApp serves handler on a Fiber app listening on 127.0.0.1:0.
func startApp(tb testing.TB, cfg fiber.Config, handler fiber.Handler) string {
	tb.Helper()
	app := fiber.New(cfg)
	app.Use(handler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	tb.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return ln.Addr().String()
}

// newProxy builds a Proxy for url and closes it with the test.
func newProxy(tb testing.TB, o Options) *Proxy {
	tb.Helper()
	p, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// startHTTPUpstream serves h with net/http on 127.0.0.1:0 and returns its URL.
func startHTTPUpstream(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// startRawUpstream accepts connections on 127.0.0.1:0 and hands each to
// serve. It returns the URL.
func startRawUpstream(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// readHead reads a message head up to and including the blank line.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		head = append(head, line...)
		if len(line) <= 2 && strings.TrimSpace(string(line)) == "" {
			return head, nil
		}
	}
}

// headFields parses the header lines of a head (after its first line).
func headFields(head []byte) (first string, fields [][2]string) {
	lines := strings.Split(strings.TrimRight(string(head), "\r\n"), "\r\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		fields = append(fields, [2]string{k, strings.TrimSpace(v)})
	}
	return lines[0], fields
}

// looseName folds a header name the way a CGI backend reads it.
func looseName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' {
			return '-'
		}
		return r
	}, strings.ToLower(s))
}

// valuesOf returns the values of every field whose name is name, in any case
// and with '-' spelled as '_' or '.'.
func valuesOf(fields [][2]string, name string) []string {
	var vs []string
	for _, f := range fields {
		if looseName(f[0]) == looseName(name) {
			vs = append(vs, f[1])
		}
	}
	return vs
}

// echoHead answers every request on c with its raw head as the body, reading
// (and dropping) any request body, until the connection ends.
func echoHead(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		head, err := readHead(br)
		if err != nil {
			return
		}
		_, fields := headFields(head)
		if err := discardBody(br, fields); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(head), head)
	}
}

func discardBody(br *bufio.Reader, fields [][2]string) error {
	if te := valuesOf(fields, "Transfer-Encoding"); len(te) > 0 {
		_, err := io.Copy(io.Discard, httputil.NewChunkedReader(br))
		if err != nil {
			return err
		}
		_, err = readHead(br) // trailer section
		return err
	}
	if cl := valuesOf(fields, "Content-Length"); len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil {
			return err
		}
		_, err = io.CopyN(io.Discard, br, n)
		return err
	}
	return nil
}

// rawExchange writes raw to a new connection to addr and reads one response.
func rawExchange(tb testing.TB, addr, raw string) (*http.Response, []byte) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tb.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return resp, body
}

// crlf turns a readable multi-line request into wire format.
func crlf(lines ...string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}
