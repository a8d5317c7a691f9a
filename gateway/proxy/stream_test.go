package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/gateway/internal/memwatch"
)

// transferSize is 64 MiB, or 1 GiB with AUTHGATE_BIG=1.
func transferSize() int64 {
	if os.Getenv("AUTHGATE_BIG") == "1" {
		return 1 << 30
	}
	return 64 << 20
}

// maxGrowth is what a transfer may add to the process's memory.
const maxGrowth = 32 << 20

// pattern is the content of every transferred body, repeated.
var pattern = func() []byte {
	b := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// patternReader yields n bytes of pattern.
type patternReader struct{ n, off int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rem := r.n - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		n += copy(p[n:], pattern[(r.off+int64(n))%int64(len(pattern)):])
	}
	r.off += int64(n)
	return n, nil
}

// patternSum is the CRC-32 of n bytes of pattern.
func patternSum(n int64) uint32 {
	h := crc32.NewIEEE()
	_, _ = io.Copy(h, &patternReader{n: n})
	return h.Sum32()
}

// streamUpstream answers POST /upload with "<bytes> <crc32>" of the body it
// read, and GET /download?n=N&chunked=1 with N bytes of pattern.
func streamUpstream(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/upload":
		h := crc32.NewIEEE()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %08x", n, h.Sum32())
	case "/download":
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, &patternReader{n: n})
	default:
		http.NotFound(w, r)
	}
}

func TestLargeBodiesStreamWithBoundedMemory(t *testing.T) {
	size := transferSize()
	upstream := startHTTPUpstream(t, http.HandlerFunc(streamUpstream))
	p := newProxy(t, Options{URL: upstream})
	addr := startGateway(t, p, plainDecision)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	sum := patternSum(size)

	tests := []struct {
		name string
		run  func(t *testing.T) (int64, uint32)
	}{
		{"upload with Content-Length streams to the upstream", func(t *testing.T) (int64, uint32) {
			return upload(t, client, addr, size, size)
		}},
		{"chunked upload streams to the upstream", func(t *testing.T) (int64, uint32) {
			return upload(t, client, addr, size, -1)
		}},
		{"download with Content-Length streams to the client", func(t *testing.T) (int64, uint32) {
			return download(t, client, addr, size, false)
		}},
		{"chunked download of unknown length streams to the client", func(t *testing.T) (int64, uint32) {
			return download(t, client, addr, size, true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memwatch.Start()
			start := time.Now()
			n, got := tt.run(t)
			elapsed := time.Since(start)
			heap, sys := mem.Growth()
			t.Logf("%d MiB in %v: peak growth HeapInuse %.1f MiB, Sys %.1f MiB",
				size>>20, elapsed.Round(time.Millisecond), float64(heap)/(1<<20), float64(sys)/(1<<20))
			if n != size || got != sum {
				t.Fatalf("transferred %d bytes crc %08x, want %d bytes crc %08x", n, got, size, sum)
			}
			if heap > maxGrowth || sys > maxGrowth {
				t.Errorf("memory grew by HeapInuse %d, Sys %d bytes; limit %d", heap, sys, maxGrowth)
			}
		})
	}
}

// upload POSTs size bytes (sent chunked when length is -1) and returns what
// the upstream says it received.
func upload(t *testing.T, client *http.Client, addr string, size, length int64) (int64, uint32) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/upload", io.NopCloser(&patternReader{n: size}))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var n int64
	var sum uint32
	if _, err := fmt.Sscanf(string(body), "%d %x", &n, &sum); err != nil {
		t.Fatalf("upstream said %q: %v", body, err)
	}
	return n, sum
}

// download GETs size bytes and returns how many arrived and their CRC-32.
func download(t *testing.T, client *http.Client, addr string, size int64, chunked bool) (int64, uint32) {
	t.Helper()
	url := fmt.Sprintf("http://%s/download?n=%d", addr, size)
	if chunked {
		url += "&chunked=1"
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if chunked != (resp.ContentLength < 0) {
		t.Errorf("Content-Length %d for chunked=%v", resp.ContentLength, chunked)
	}
	h := crc32.NewIEEE()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	return n, h.Sum32()
}

func TestServerSentEventsArriveOneByOne(t *testing.T) {
	const events = 3
	ack := make(chan struct{})
	upstream := startHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for i := range events {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			f.Flush()
			// The next event is written only once the client has this one:
			// a proxy that buffers never delivers it.
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
				return
			}
		}
	}))
	p := newProxy(t, Options{URL: upstream})
	addr := startGateway(t, p, plainDecision)

	resp, err := http.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		br := bufio.NewReader(resp.Body)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			lines <- l
		}
	}()
	for i := range events {
		want := fmt.Sprintf("data: event %d\n", i)
		select {
		case l := <-lines:
			if l != want {
				t.Fatalf("got %q, want %q", l, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not reach the client within 5s: the response is buffered", i)
		}
		if l := <-lines; l != "\n" {
			t.Fatalf("got %q after event %d", l, i)
		}
		ack <- struct{}{}
	}
}

func TestTruncatedUpstreamBodyIsNotPassedOffAsComplete(t *testing.T) {
	tests := []struct {
		name     string
		response string
		want502  bool // nothing was sent yet: Forward fails
	}{
		{"short body shorter than its Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", true},
		{"long body shorter than its Content-Length", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n0123456789", maxBuffered+1), false},
		{"chunked body without its last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upstream := startRawUpstream(t, func(c net.Conn) {
				if _, err := readHead(bufio.NewReader(c)); err == nil {
					_, _ = io.WriteString(c, tt.response)
				}
			})
			p := newProxy(t, Options{URL: upstream})
			addr := startGateway(t, p, plainDecision)
			resp, err := http.Get("http://" + addr + "/x")
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if tt.want502 {
				if resp.StatusCode != 502 || err != nil {
					t.Errorf("got %d %q (%v), want the gateway's 502", resp.StatusCode, body, err)
				}
				return
			}
			if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("got %d, body %q, error %v; want 200 and a body that ends unexpectedly", resp.StatusCode, body, err)
			}
		})
	}
}

func TestResponseTimeoutDoesNotBoundSlowBodies(t *testing.T) {
	const timeout = 300 * time.Millisecond
	upstream := startHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f := w.(http.Flusher)
		fmt.Fprintf(w, "got %d;", n)
		f.Flush()
		// The body takes longer than the response timeout.
		for range 4 {
			time.Sleep(timeout / 2)
			fmt.Fprint(w, "more;")
			f.Flush()
		}
	}))
	p := newProxy(t, Options{URL: upstream, ResponseTimeout: timeout})
	addr := startGateway(t, p, plainDecision)

	// The upload also takes longer than the response timeout: the wait
	// for the response starts when the request has been sent.
	pr, pw := io.Pipe()
	go func() {
		for range 4 {
			_, _ = pw.Write([]byte("part;"))
			time.Sleep(timeout / 2)
		}
		_ = pw.Close()
	}()
	resp, err := http.Post("http://"+addr+"/slow", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d body %q err %v", resp.StatusCode, body, err)
	}
	if want := "got 20;" + strings.Repeat("more;", 4); string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

func TestResponseHeadersAreRelayedWithoutHopByHop(t *testing.T) {
	upstream := startRawUpstream(t, func(c net.Conn) {
		if _, err := readHead(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, crlf("HTTP/1.1 201 Created",
			"Connection: X-Secret, close", "X-Secret: s", "Keep-Alive: timeout=5",
			"Proxy-Authenticate: Basic", "Upgrade: h2c", "Trailer: X-T",
			"Set-Cookie: a=1; Path=/", "Set-Cookie: a=2; Path=/x", "X-Normal: n",
			"Content-Type: application/json", "Content-Length: 2")+"{}")
	})
	p := newProxy(t, Options{URL: upstream})
	addr := startGateway(t, p, plainDecision)

	resp, body := rawExchange(t, addr, crlf("GET /x HTTP/1.1", "Host: app.example"))
	if resp.StatusCode != http.StatusCreated || string(body) != "{}" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	for _, h := range []string{"X-Secret", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Trailer"} {
		if v := resp.Header.Values(h); len(v) > 0 {
			t.Errorf("%s relayed: %q", h, v)
		}
	}
	if resp.Close {
		t.Error("the upstream's Connection: close was relayed to the client")
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 2 {
		t.Errorf("Set-Cookie %q, want both", got)
	}
	if resp.Header.Get("X-Normal") != "n" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestBodilessResponses(t *testing.T) {
	upstream := startHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
			w.Header().Set("Content-Type", "image/png")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		}
	}))
	p := newProxy(t, Options{URL: upstream})
	addr := startGateway(t, p, plainDecision)

	tests := []struct {
		name, method, path string
		status             int
		check              func(t *testing.T, r *http.Response)
	}{
		{"HEAD keeps the upstream's Content-Length", http.MethodHead, "/head", 200, func(t *testing.T, r *http.Response) {
			if r.ContentLength != 1234 || r.Header.Get("Content-Type") != "image/png" {
				t.Errorf("Content-Length %d, Content-Type %q", r.ContentLength, r.Header.Get("Content-Type"))
			}
		}},
		{"204 has no body", http.MethodGet, "/204", 204, func(*testing.T, *http.Response) {}},
		{"304 keeps its validators", http.MethodGet, "/304", 304, func(t *testing.T, r *http.Response) {
			if r.Header.Get("ETag") != `"v1"` {
				t.Errorf("ETag %q", r.Header.Get("ETag"))
			}
		}},
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var mu sync.Mutex // one keep-alive connection: a wrong body length breaks the next response
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			defer mu.Unlock()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: app.example\r\n\r\n", tt.method, tt.path)
			req, _ := http.NewRequest(tt.method, tt.path, nil)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || len(body) != 0 {
				t.Errorf("body %q err %v", body, err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			tt.check(t, resp)
		})
	}
}
