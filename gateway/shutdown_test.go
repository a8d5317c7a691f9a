package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestShutdownFinishesEveryAcceptedRequestAndRefusesNewConnections starts
// a shutdown while keep-alive connections wait for a slow upstream, on both
// front ends. From the moment it starts, new connections are refused (not
// accepted and then reset); every request already accepted is answered in
// full, with Connection: close so that the client sends no more on it; and
// each connection then ends with a FIN, not a reset.
func TestShutdownFinishesEveryAcceptedRequestAndRefusesNewConnections(t *testing.T) {
	for _, fast := range []bool{true, false} {
		name := "Fiber app"
		if fast {
			name = "fast path"
		}
		t.Run(name, func(t *testing.T) {
			const conns = 10
			arrived := make(chan struct{}, conns)
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/slow" {
					arrived <- struct{}{}
					<-release
				}
				_, _ = io.WriteString(w, "done "+r.URL.Path)
			}))
			defer up.Close()
			var releaseOnce sync.Once
			defer releaseOnce.Do(func() { close(release) })
			e := newEnv(t, func(y string) string {
				y = upstreamURL.ReplaceAllString(y, up.URL)
				if !fast {
					y += "server: {fast_path: false}\n"
				}
				return y
			})
			e.addUser("fan", "fan-password-1", "user")
			tok, _ := e.login("fan", "fan-password-1")

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- e.g.Serve(ctx, ln, nil) }()
			defer cancel()

			clients := make([]*client, conns)
			for i := range clients {
				clients[i] = dialWhenUp(t, addr)
				// One quick request first: the connection is an established
				// keep-alive connection when the slow one is sent.
				if r := clients[i].send("GET", get("/api/quick", authz(tok))); r.status != 200 {
					t.Fatalf("quick request: %d %s", r.status, r.body)
				}
				if _, err := io.WriteString(clients[i].conn, get("/api/slow", authz(tok))); err != nil {
					t.Fatal(err)
				}
			}
			for range conns {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					t.Fatal("the slow requests did not all reach the upstream")
				}
			}

			cancel() // SIGTERM
			refused := false
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					refused = true
					break
				}
				_ = c.Close()
			}
			if !refused {
				t.Fatal("new connections are still accepted 5s into the shutdown, while requests are in flight")
			}
			releaseOnce.Do(func() { close(release) })

			for i, c := range clients {
				_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
				res, err := http.ReadResponse(c.br, nil)
				if err != nil {
					t.Fatalf("connection %d: in-flight request lost: %v", i, err)
				}
				body, err := io.ReadAll(res.Body)
				_ = res.Body.Close()
				if err != nil || res.StatusCode != 200 || string(body) != "done /api/slow" {
					t.Fatalf("connection %d: %d %q %v", i, res.StatusCode, body, err)
				}
				if !res.Close {
					t.Errorf("connection %d: the last response does not say Connection: close", i)
				}
				if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
					t.Errorf("connection %d: after the response, %v instead of a clean close", i, err)
				}
			}
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

// dialWhenUp connects to addr, waiting for Serve to listen.
func dialWhenUp(t *testing.T, addr string) *client {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
			return &client{t: t, conn: c, br: bufio.NewReader(c)}
		}
		if i > 500 || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatal(fmt.Errorf("dial %s: %w", addr, err))
		}
		time.Sleep(2 * time.Millisecond)
	}
}
