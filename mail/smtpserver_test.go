package mail

import (
	"net"
	"sync"
	"testing"
)

// silentServer accepts connections and never speaks. Each accepted
// connection is announced on the returned channel.
func silentServer(t testing.TB) (port int, accepted <-chan struct{}) {
	return stallingServer(t, nil)
}

// stallingServer accepts connections and runs talk on each, if set, then
// holds the connection open without a word. A connection is announced on the
// returned channel once talk returns.
func stallingServer(t testing.TB, talk func(net.Conn)) (port int, ready <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ch := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				if talk != nil {
					talk(c)
				}
				select {
				case ch <- struct{}{}:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port, ch
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return port
}
