package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests put a misbehaving upstream, a raw TCP server, behind the
// "other" upstream and send the same requests through the fast path and
// through the Fiber app alone. What the client gets must be what the
// upstream answered to that very request, or an honest failure.

// rawUpstream is a TCP server that hands each connection to serve and counts
// the connections and requests it reads.
type rawUpstream struct {
	url      string
	conns    atomic.Int32
	requests atomic.Int32
}

// startRawUpstream serves each connection with serve; serve reads requests
// with u.read.
func startRawUpstream(t *testing.T, serve func(u *rawUpstream, c net.Conn, br *bufio.Reader)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{url: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(u, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return u
}

// read reads one whole request (head and body) and counts it.
func (u *rawUpstream) read(br *bufio.Reader) (*http.Request, []byte, error) {
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	u.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	return r, body, err
}

// answer is the response the upstream gives to r: it names the request, so
// that a client can tell whether it got its own answer.
func answer(r *http.Request, body []byte) string {
	return fmt.Sprintf("%s %s %s", r.Method, r.URL.Path, body)
}

func okResponse(s string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(s), s)
}

// newRawFastEnv is newFastEnv with u as the "other" upstream.
func newRawFastEnv(t *testing.T, u *rawUpstream) *fastEnv {
	return newFastEnv(t, func(y string) string {
		return strings.Replace(y, "other: ", "other: "+u.url+" #", 1)
	})
}

// paths are the two ways into the gateway.
func (fe *fastEnv) paths() []struct{ name, addr string } {
	return []struct{ name, addr string }{{"fast path", fe.fast}, {"Fiber app", fe.slow}}
}

func post(path, body string, headers ...string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: app.test\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s",
		path, len(body), strings.Join(headers, ""), body)
}

// TestStalePooledUpstreamConnections: an upstream that closes idle
// connections (a short keep-alive timeout, as Node's and gunicorn's) or
// closes after every response without saying so. No request may fail for a
// connection the gateway had pooled, whatever its method.
func TestStalePooledUpstreamConnections(t *testing.T) {
	t.Run("keep-alive timeout shorter than the gap between requests", func(t *testing.T) {
		u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
			for {
				_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				r, body, err := u.read(br)
				if err != nil {
					return // idle too long: close
				}
				_, _ = io.WriteString(c, okResponse(answer(r, body)))
			}
		})
		fe := newRawFastEnv(t, u)
		for _, p := range fe.paths() {
			c := dial(t, p.addr)
			for i := range 3 {
				for _, rq := range []struct{ method, raw, want string }{
					{"POST", post("/other/form", fmt.Sprintf("round %d", i), authz(fe.user)), fmt.Sprintf("POST /other/form round %d", i)},
					{"GET", get("/other/page", authz(fe.user)), "GET /other/page "},
				} {
					time.Sleep(250 * time.Millisecond) // past the upstream's keep-alive
					if r := c.send(rq.method, rq.raw); r.status != 200 || string(r.body) != rq.want {
						t.Errorf("%s, round %d: %s got %d %q, want 200 %q", p.name, i, rq.method, r.status, r.body, rq.want)
					}
				}
			}
		}
	})
	t.Run("upstream closes after each response, parallel POSTs", func(t *testing.T) {
		u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
			r, body, err := u.read(br)
			if err == nil {
				_, _ = io.WriteString(c, okResponse(answer(r, body)))
			}
		})
		fe := newRawFastEnv(t, u)
		for _, p := range fe.paths() {
			const n = 100
			var failed atomic.Int32
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					body := fmt.Sprintf("order %d", i)
					r := dial(t, p.addr).send("POST", post("/other/orders", body, authz(fe.user)))
					if want := "POST /other/orders " + body; r.status != 200 || string(r.body) != want {
						failed.Add(1)
						t.Errorf("%s: POST %d got %d %q", p.name, i, r.status, r.body)
					}
				})
			}
			wg.Wait()
			if f := failed.Load(); f > 0 {
				t.Errorf("%s: %d of %d POSTs failed", p.name, f, n)
			}
		}
	})
	t.Run("a POST whose connection closed unanswered is sent again whole", func(t *testing.T) {
		// The first connection reads the request and closes without a
		// byte of answer; every later one answers.
		var first atomic.Bool
		u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
			for {
				r, body, err := u.read(br)
				if err != nil {
					return
				}
				if first.CompareAndSwap(false, true) {
					return
				}
				_, _ = io.WriteString(c, okResponse(answer(r, body)))
			}
		})
		fe := newRawFastEnv(t, u)
		body := strings.Repeat("a streamed body ", 2000) // 32000 bytes: more than fasthttp reads ahead
		r := dial(t, fe.slow).send("POST", post("/other/upload", body, authz(fe.user)))
		if want := "POST /other/upload " + body; r.status != 200 || string(r.body) != want {
			t.Errorf("got %d %.80q, want 200 and the whole body echoed", r.status, r.body)
		}
		if n := u.requests.Load(); n != 2 {
			t.Errorf("upstream read %d requests, want 2", n)
		}
	})
	t.Run("a POST whose body was too long to keep is not sent again", func(t *testing.T) {
		u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
			_, _, _ = u.read(br) // and close unanswered
		})
		fe := newRawFastEnv(t, u)
		body := strings.Repeat("x", 200<<10)
		r := dial(t, fe.slow).send("POST", post("/other/upload", body, authz(fe.user)))
		if r.status != 502 || !strings.Contains(string(r.body), "upstream-unavailable") {
			t.Errorf("got %d %q, want 502 upstream-unavailable", r.status, r.body)
		}
		if n := u.requests.Load(); n != 1 {
			t.Errorf("upstream read %d requests, want 1", n)
		}
	})
}

// TestUnansweredRequestReachesTheUpstreamAtMostTwice: one request to an
// upstream that closes every connection without answering is tried once and
// retried once, counting the fast path's try and the Fiber app's together.
func TestUnansweredRequestReachesTheUpstreamAtMostTwice(t *testing.T) {
	u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
		_, _, _ = u.read(br) // and close unanswered
	})
	fe := newRawFastEnv(t, u)
	for _, p := range fe.paths() {
		for _, rq := range []struct{ method, raw string }{
			{"GET", get("/other/x", authz(fe.user))},
			{"HEAD", strings.Replace(get("/other/x", authz(fe.user)), "GET", "HEAD", 1)},
			{"POST", post("/other/x", "hello", authz(fe.user))},
		} {
			u.requests.Store(0)
			r := dial(t, p.addr).send(rq.method, rq.raw)
			if r.status != 502 {
				t.Errorf("%s %s: got %d, want 502", p.name, rq.method, r.status)
			}
			if n := u.requests.Load(); n != 2 {
				t.Errorf("%s %s: the upstream read the request %d times, want 2", p.name, rq.method, n)
			}
		}
	}
}

// TestUnsolicitedUpstreamBytesNeverReachAnotherClient: after answering user
// A, the upstream sends more (a second response, a body after a HEAD answer
// or a 204). User B's request, next on the same client connection (as behind
// a proxy that multiplexes users) and so on the same pooled upstream
// connection if it were reused, must get the upstream's answer to B.
func TestUnsolicitedUpstreamBytesNeverReachAnotherClient(t *testing.T) {
	leak := okResponse("leaked: meant for user A")
	tests := []struct {
		name   string
		method string // user A's
		answer string // the upstream's answer to A, then what it sends unasked
		later  bool   // the unasked bytes come in a write of their own, after A got its answer
		wantA  int    // the status A gets; a 200 has the body "for A"
	}{
		{"second response in the same write", "GET", okResponse("for A") + leak, false, 200},
		{"second response after the first", "GET", okResponse("for A") + leak, true, 200},
		{"body after a HEAD answer", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + leak, true, 200},
		{"body after a 204", "GET", "HTTP/1.1 204 No Content\r\n\r\n" + leak, true, 204},
		{"101 to a request that asked for no upgrade", "GET", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n" + leak, true, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := make(chan struct{}, 1)
			var gotA atomic.Value // chan struct{}: A has its answer
			u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
				for {
					r, body, err := u.read(br)
					if err != nil {
						return
					}
					if r.URL.Path != "/other/a" {
						_, _ = io.WriteString(c, okResponse(answer(r, body)))
						continue
					}
					head, rest := tt.answer, ""
					if tt.later {
						i := strings.Index(tt.answer, "\r\n\r\n") + 4
						if tt.method == "GET" && strings.HasPrefix(tt.answer, "HTTP/1.1 200") {
							i = len(okResponse("for A"))
						}
						head, rest = tt.answer[:i], tt.answer[i:]
					}
					_, _ = io.WriteString(c, head)
					if rest != "" {
						select {
						case <-gotA.Load().(chan struct{}):
						case <-time.After(10 * time.Second): // A is still waiting (for more after a 1xx)
						}
						_, _ = io.WriteString(c, rest)
					}
					sent <- struct{}{}
				}
			})
			fe := newRawFastEnv(t, u)
			for _, p := range fe.paths() {
				a := make(chan struct{})
				gotA.Store(a)
				c := dial(t, p.addr)
				rqA := strings.Replace(get("/other/a", authz(fe.user)), "GET", tt.method, 1)
				ra := c.send(tt.method, rqA)
				close(a)
				select { // the upstream has sent everything, asked or not
				case <-sent:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: the upstream did not get A's request", p.name)
				}
				wantBody := ""
				if tt.wantA == 200 && tt.method == "GET" {
					wantBody = "for A"
				}
				if ra.status != tt.wantA || (tt.wantA != 502 && string(ra.body) != wantBody) {
					t.Errorf("%s: user A got %d %q, want %d %q", p.name, ra.status, ra.body, tt.wantA, wantBody)
				}
				rb := c.send("GET", get("/other/b", authz(fe.admin)))
				if want := "GET /other/b "; rb.status != 200 || string(rb.body) != want {
					t.Errorf("%s: user B got %d %q, want 200 %q", p.name, rb.status, rb.body, want)
				}
			}
		})
	}
}

// TestTruncatedUpstreamBodies: an upstream that promises more body than it
// sends, then closes. Before the client has received anything the answer is
// 502; once the head is out, the client's connection is closed after the
// short body, so the client sees the response is incomplete and cannot take
// the next bytes as another response.
func TestTruncatedUpstreamBodies(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 200<<10/16) // 200 KiB
	tests := []struct {
		name     string
		response string
		want502  bool
	}{
		{"short body of known length", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", true},
		{"empty body of known length", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", true},
		{"large body cut early", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(big), big[:1000]), false},
		{"large body cut late", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(big), big[:150<<10]), false},
		{"chunked body without its last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n", false},
		{"chunked body cut inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n0123456789", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
				if _, _, err := u.read(br); err == nil {
					_, _ = io.WriteString(c, tt.response)
				}
			})
			fe := newRawFastEnv(t, u)
			for _, p := range fe.paths() {
				c := dial(t, p.addr)
				_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c.conn, get("/other/x", authz(fe.user))); err != nil {
					t.Fatal(err)
				}
				res, err := http.ReadResponse(c.br, nil)
				if err != nil {
					t.Errorf("%s: no response head (%v): an empty reply", p.name, err)
					continue
				}
				body, berr := io.ReadAll(res.Body)
				if tt.want502 {
					if res.StatusCode != 502 || berr != nil || !strings.Contains(string(body), "upstream-unavailable") {
						t.Errorf("%s: got %d %q (%v), want 502 upstream-unavailable", p.name, res.StatusCode, body, berr)
					}
					continue
				}
				if res.StatusCode != 200 || !errors.Is(berr, io.ErrUnexpectedEOF) {
					t.Errorf("%s: got %d, %d body bytes, read error %v; want 200 and a body that ends unexpectedly", p.name, res.StatusCode, len(body), berr)
				}
				if n, err := c.br.Read(make([]byte, 1)); err == nil {
					t.Errorf("%s: the client connection is still open after a short body (%d more bytes)", p.name, n)
				}
			}
		})
	}
}

// TestInterimResponsesAreSkipped: a 1xx before the answer is not the answer.
func TestInterimResponsesAreSkipped(t *testing.T) {
	u := startRawUpstream(t, func(u *rawUpstream, c net.Conn, br *bufio.Reader) {
		for {
			r, body, err := u.read(br)
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+okResponse(answer(r, body)))
		}
	})
	fe := newRawFastEnv(t, u)
	for _, p := range fe.paths() {
		c := dial(t, p.addr)
		for i := range 2 {
			if r := c.send("GET", get("/other/x", authz(fe.user))); r.status != 200 || string(r.body) != "GET /other/x " {
				t.Errorf("%s, request %d: got %d %q", p.name, i, r.status, r.body)
			}
		}
	}
}
