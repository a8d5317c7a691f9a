package gateway

import (
	"strings"
	"testing"
	"time"
)

// oneConn limits the default upstream to one connection, so that a stalled
// request holds it and the next ones must wait for it.
func oneConn(timeout string) func(string) string {
	return func(y string) string {
		return strings.Replace(y, "upstreams:\n", "upstreams:\n  max_conns_per_host: 1\n  response_timeout: "+timeout+"\n", 1)
	}
}

// waitQueued waits until n requests wait for an upstream connection.
func (fe *fastEnv) waitQueued(t *testing.T, n int) {
	t.Helper()
	for i := 0; fe.g.fast.Load().Waiting() != n; i++ {
		if i > 1000 {
			t.Fatalf("%d requests waiting, want %d", fe.g.fast.Load().Waiting(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFastPathQueuesWhenUpstreamConnectionsAreBusy: with every connection to
// the upstream busy, the loop keeps the request and its client connection
// and sends it when a connection frees (in order), answers 503 with
// Retry-After when too many wait, and 504 when the wait outlasts
// response_timeout. Nothing is handed to the Fiber app.
func TestFastPathQueuesWhenUpstreamConnectionsAreBusy(t *testing.T) {
	t.Run("served when the connection frees", func(t *testing.T) {
		fe := newFastEnv(t, oneConn("10s"))
		_, _, h0 := fe.counts()
		slow := make(chan resp, 1)
		go func() { slow <- dial(t, fe.fast).send("GET", get("/api/slow", authz(fe.user))) }()
		time.Sleep(50 * time.Millisecond) // /api/slow has the connection
		queued := make(chan resp, 2)
		for _, p := range []string{"/api/first", "/api/second"} {
			go func() { queued <- dial(t, fe.fast).send("GET", get(p, authz(fe.user))) }()
		}
		fe.waitQueued(t, 2)
		close(fe.release)
		if r := <-slow; r.status != 200 {
			t.Fatalf("slow: %d %s", r.status, r.body)
		}
		for range 2 {
			r := <-queued
			if r.status != 200 || upstreamSaw(t, r.body).Headers["X-User-Id"] == nil {
				t.Fatalf("queued request: %d %s", r.status, r.body)
			}
		}
		if _, _, h1 := fe.counts(); h1 != h0 {
			t.Errorf("%d connections handed over, want none", h1-h0)
		}
		if n := fe.g.fast.Load().Waiting(); n != 0 {
			t.Errorf("%d still waiting", n)
		}
	})
	t.Run("503 with Retry-After when the queue is full", func(t *testing.T) {
		fe := newFastEnv(t, oneConn("10s"))
		_, _, h0 := fe.counts()
		go dial(t, fe.fast).send("GET", get("/api/slow", authz(fe.user)))
		time.Sleep(50 * time.Millisecond)
		const queue = 4 // fastpath.QueueFactor × max_conns_per_host
		done := make(chan resp, queue)
		for range queue {
			go func() { done <- dial(t, fe.fast).send("GET", get("/api/x", authz(fe.user))) }()
		}
		fe.waitQueued(t, queue)
		r := dial(t, fe.fast).send("GET", get("/api/x", authz(fe.user)))
		if r.status != 503 || r.problemType(t) != "upstream-busy" || r.header.Get("Retry-After") != "1" ||
			r.header.Get("X-Request-Id") == "" {
			t.Fatalf("got %d %v %s", r.status, r.header, r.body)
		}
		close(fe.release)
		for range queue {
			if r := <-done; r.status != 200 {
				t.Fatalf("queued request: %d %s", r.status, r.body)
			}
		}
		if _, _, h1 := fe.counts(); h1 != h0 {
			t.Errorf("%d connections handed over, want none", h1-h0)
		}
	})
	t.Run("504 when the wait outlasts response_timeout, connection kept", func(t *testing.T) {
		fe := newFastEnv(t, oneConn("400ms"))
		// A stream holds the connection past response_timeout (its head
		// came in time).
		sse := dial(t, fe.fast)
		if _, err := sse.conn.Write([]byte(get("/api/sse", authz(fe.user)))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		_, _, h0 := fe.counts()
		c := dial(t, fe.fast)
		r := c.send("GET", get("/api/x", authz(fe.user)))
		if r.status != 504 || r.problemType(t) != "upstream-timeout" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		close(fe.release) // the stream ends, its connection is free
		if r := c.send("GET", get("/api/x", authz(fe.user))); r.status != 200 {
			t.Fatalf("next request on the same connection: %d %s", r.status, r.body)
		}
		if _, _, h1 := fe.counts(); h1 != h0 {
			t.Errorf("%d connections handed over, want none", h1-h0)
		}
	})
}
