package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// pristine reports whether the handler's response is still as Fiber made it:
// nothing of a failed Forward may have reached it.
func pristine(c *fiber.Ctx) error {
	r := c.Response()
	switch {
	case r.StatusCode() != fiber.StatusOK:
		return fmt.Errorf("status set to %d", r.StatusCode())
	case r.IsBodyStream() || len(r.Body()) > 0:
		return errors.New("body set")
	case headerLines(r.Header.Header()) > 0:
		return fmt.Errorf("headers set: %q", r.Header.Header())
	case c.Context().Hijacked():
		return errors.New("connection hijacked")
	}
	return nil
}

// headerLines counts the fields of a response head other than the Date that
// fasthttp always adds.
func headerLines(head []byte) int {
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(head)), "\r\n")[1:] {
		if !strings.HasPrefix(l, "Date: ") {
			n++
		}
	}
	return n
}

// failingGateway forwards through p and reports each Forward error, after
// checking that the response was left untouched.
func failingGateway(t *testing.T, p *Proxy) (string, <-chan error) {
	errs := make(chan error, 10)
	addr := startApp(t, gatewayConfig(), func(c *fiber.Ctx) error {
		err := p.Forward(c, plainDecision(c))
		if err != nil {
			if perr := pristine(c); perr != nil {
				t.Errorf("after %v: response touched: %v", err, perr)
			}
			errs <- err
			return c.Status(errorStatus(err)).SendString("gateway says: " + err.Error())
		}
		return nil
	})
	return addr, errs
}

func TestUpstreamFailuresAnswerBeforeAnythingIsWritten(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + closed.Addr().String()
	_ = closed.Close()

	var slowHits atomic.Int32
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slowURL := startHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))

	tests := []struct {
		name    string
		url     string
		request string
		want    error
		status  int
	}{
		{"refused connection is 502", refusedURL, crlf("GET /x HTTP/1.1", "Host: a"), ErrUpstreamUnavailable, 502},
		{"refused connection with a streamed body is 502", refusedURL,
			crlf("POST /x HTTP/1.1", "Host: a", "Content-Length: 5") + "hello", ErrUpstreamUnavailable, 502},
		{"upstream silent past ResponseTimeout is 504", slowURL, crlf("GET /x HTTP/1.1", "Host: a"), ErrUpstreamTimeout, 504},
		{"upstream silent past ResponseTimeout after a body is 504", slowURL,
			crlf("POST /x HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n", ErrUpstreamTimeout, 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slowHits.Store(0)
			p := newProxy(t, Options{URL: tt.url, ResponseTimeout: 200 * time.Millisecond, DialTimeout: time.Second})
			addr, errs := failingGateway(t, p)
			resp, body := rawExchange(t, addr, tt.request)
			if resp.StatusCode != tt.status || !bytes.HasPrefix(body, []byte("gateway says: ")) {
				t.Errorf("client got %d %q, want only the gateway's %d", resp.StatusCode, body, tt.status)
			}
			if err := <-errs; !errors.Is(err, tt.want) {
				t.Errorf("Forward returned %v, want %v", err, tt.want)
			}
			if tt.url == slowURL && slowHits.Load() != 1 {
				t.Errorf("upstream saw %d requests: a timed-out request was retried", slowHits.Load())
			}
		})
	}
}

func TestClientThatStopsMidBodyIsNotBlamedOnTheUpstream(t *testing.T) {
	upstream := startHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	p := newProxy(t, Options{URL: upstream})
	addr, errs := failingGateway(t, p)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Promise 100000 bytes, send 20000 (more than fasthttp reads ahead
	// before calling the handler), and close.
	fmt.Fprint(c, crlf("POST /x HTTP/1.1", "Host: a", "Content-Length: 100000")+strings.Repeat("x", 20000))
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c)
	_ = c.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, ErrClientBody) {
			t.Errorf("Forward returned %v, want ErrClientBody", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Forward did not fail")
	}
}

func TestMultipartUploadReachesTheUpstreamUntouched(t *testing.T) {
	upstream := startHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := crc32.NewIEEE()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %08x %s", n, h.Sum32(), r.Header.Get("Content-Type"))
	}))
	p := newProxy(t, Options{URL: upstream})
	addr := startGateway(t, p, plainDecision)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "big.bin")
	_, _ = io.Copy(fw, &patternReader{n: 5 << 20})
	_ = mw.WriteField("note", "hello")
	_ = mw.Close()
	want := fmt.Sprintf("%d %08x %s", body.Len(), crc32.ChecksumIEEE(body.Bytes()), mw.FormDataContentType())

	resp, err := http.Post("http://"+addr+"/upload", mw.FormDataContentType(), bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(bufio.NewReader(resp.Body))
	if string(got) != want {
		t.Errorf("upstream got %q, want %q", got, want)
	}
}

func TestIdleConnectionClosedByUpstreamIsRetriedForGET(t *testing.T) {
	var conns atomic.Int32
	// One response per connection, then close without saying so: the
	// pooled connection is dead when the next request picks it up.
	upstream := startRawUpstream(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		if _, err := readHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	p := newProxy(t, Options{URL: upstream})
	addr := startGateway(t, p, plainDecision)
	for i := range 3 {
		resp, body := rawExchange(t, addr, crlf("GET /x HTTP/1.1", "Host: a"))
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n < 3 {
		t.Errorf("upstream saw %d connections for 3 requests", n)
	}
}
