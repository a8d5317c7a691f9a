package fastpath

import (
	"net"
	"sync"
	"time"
)

// handoffListener yields the connections the loops give up to the Fiber
// app, each with the bytes already read from it.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}

	mu     sync.Mutex // orders push against Close
	closed bool
}

func newHandoff(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn, 256), done: make(chan struct{})}
}

func (h *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and closes the connections not yet accepted.
func (h *handoffListener) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.once.Do(func() { close(h.done) })
	for {
		select {
		case c := <-h.conns:
			_ = c.Close()
		default:
			return nil
		}
	}
}

func (h *handoffListener) Addr() net.Addr { return h.addr }

// push gives c to the Fiber app, or closes it when the app no longer
// accepts. It does not block a loop: when the queue is full a goroutine
// waits for room instead.
func (h *handoffListener) push(c net.Conn, read []byte) {
	if len(read) > 0 {
		c = &prefixConn{Conn: c, prefix: read}
	}
	if h.offer(c) {
		return
	}
	go func() {
		for !h.offer(c) {
			time.Sleep(time.Millisecond)
		}
	}()
}

// offer queues c, or closes it after Close; false when the queue is full.
func (h *handoffListener) offer(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		_ = c.Close()
		return true
	}
	select {
	case h.conns <- c:
		return true
	default:
		return false
	}
}

// prefixConn reads the bytes a loop had already read before the
// connection's own.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
