package proxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMaxConnsIsABoundNotAnError: with MaxConns busy, a request waits up to
// DialTimeout for a connection to come free, and the upstream never sees
// more than MaxConns connections at once.
func TestMaxConnsIsABoundNotAnError(t *testing.T) {
	var open, most atomic.Int32
	upstream := startRawUpstream(t, func(c net.Conn) {
		n := open.Add(1)
		defer open.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		br := bufio.NewReader(c)
		for {
			if _, err := readHead(br); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tests := []struct {
		name        string
		dialTimeout time.Duration
		want        int // status of every request
	}{
		{"waits for a free connection", 5 * time.Second, 200},
		{"gives up after DialTimeout", 10 * time.Millisecond, 0}, // some 502
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProxy(t, Options{URL: upstream, MaxConns: 2, DialTimeout: tt.dialTimeout})
			addr := startGateway(t, p, plainDecision)
			var wg sync.WaitGroup
			var ok, bad atomic.Int32
			for range 8 {
				wg.Go(func() {
					resp, body := rawExchange(t, addr, crlf("GET /x HTTP/1.1", "Host: a"))
					switch {
					case resp.StatusCode == 200 && string(body) == "ok":
						ok.Add(1)
					case resp.StatusCode == 502:
						bad.Add(1)
					default:
						t.Errorf("got %d %q", resp.StatusCode, body)
					}
				})
			}
			wg.Wait()
			if tt.want == 200 && ok.Load() != 8 {
				t.Errorf("%d of 8 requests succeeded", ok.Load())
			}
			if tt.want == 0 && bad.Load() == 0 {
				t.Errorf("no request gave up waiting for one of 2 connections")
			}
			if m := most.Load(); m > 2 {
				t.Errorf("the upstream saw %d connections at once, MaxConns is 2", m)
			}
		})
	}
}
