package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// The proxy keeps its own pool of upstream connections instead of fasthttp's
// HostClient, because a gateway must know three things about a connection
// that HostClient hides:
//
//   - whether a pooled connection has anything to read before it is reused:
//     bytes the upstream sent after its response (a second response, a body
//     after a HEAD answer or a 204) or its close. Such a connection is closed,
//     never reused: its bytes would be read as the answer to the next request,
//     which may be another user's (net/http's Transport closes a connection
//     that becomes readable while idle for the same reason);
//   - whether a failed request had been answered with any byte, which decides
//     whether it may be sent again (see Forward);
//   - how many times a request is sent: HostClient sends an idempotent request
//     up to five times, and the fast path's own try came on top.

// errNoFreeConns reports that MaxConns connections were busy for DialTimeout.
var errNoFreeConns = errors.New("no free upstream connection (MaxConns busy)")

// upstreamConn is one connection of the pool.
type upstreamConn struct {
	conn      *headerDeadlineConn
	br        *bufio.Reader // while a response is being read; nil in the pool
	idleSince time.Time
	peek      peeker
}

// connPool holds the connections to one upstream: at most max open, the
// idle ones closed after idleFor.
type connPool struct {
	dial    func() (*headerDeadlineConn, error)
	max     int
	wait    time.Duration // for a free connection when max are open
	idleFor time.Duration

	mu       sync.Mutex
	idle     []*upstreamConn // most recently used last
	open     int             // connections open or being dialled
	waiters  []chan *upstreamConn
	cleaning bool
	closed   bool
}

// get returns a connection for one request: a pooled one that has nothing to
// read, or, with fresh or when none is idle, a new one. When max connections
// are open it waits up to wait for one.
func (cp *connPool) get(fresh bool) (*upstreamConn, error) {
	var deadline time.Time
	for {
		cp.mu.Lock()
		if !fresh {
			if uc := cp.popIdle(); uc != nil {
				cp.mu.Unlock()
				if uc.reusable(cp.idleFor) {
					return uc, nil
				}
				cp.drop(uc)
				continue
			}
		}
		if cp.open < cp.max {
			cp.open++
			cp.mu.Unlock()
			return cp.dialSlot()
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(cp.wait)
		}
		ch := make(chan *upstreamConn, 1)
		cp.waiters = append(cp.waiters, ch)
		cp.mu.Unlock()

		uc, ok := cp.await(ch, deadline)
		switch {
		case !ok:
			return nil, errNoFreeConns
		case uc == nil: // a slot was handed over
			return cp.dialSlot()
		case !fresh && uc.reusable(cp.idleFor):
			return uc, nil
		default: // keep its slot for a new connection
			_ = uc.conn.Close()
			return cp.dialSlot()
		}
	}
}

// await waits on ch until deadline; ok is false when nothing came.
func (cp *connPool) await(ch chan *upstreamConn, deadline time.Time) (uc *upstreamConn, ok bool) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case uc = <-ch:
		return uc, true
	case <-t.C:
	}
	cp.mu.Lock()
	for i, w := range cp.waiters {
		if w == ch {
			cp.waiters = append(cp.waiters[:i], cp.waiters[i+1:]...)
			cp.mu.Unlock()
			return nil, false
		}
	}
	cp.mu.Unlock()
	return <-ch, true // handed over as the timer fired
}

// popIdle takes the most recently used idle connection; mu is held.
func (cp *connPool) popIdle() *upstreamConn {
	n := len(cp.idle)
	if n == 0 {
		return nil
	}
	uc := cp.idle[n-1]
	cp.idle[n-1] = nil
	cp.idle = cp.idle[:n-1]
	return uc
}

// dialSlot opens a connection in a slot the caller holds.
func (cp *connPool) dialSlot() (*upstreamConn, error) {
	c, err := cp.dial()
	if err != nil {
		cp.freeSlot()
		return nil, err
	}
	uc := &upstreamConn{conn: c}
	uc.peek.init(c.Conn)
	return uc, nil
}

// reusable reports whether a pooled connection may carry a request: not idle
// too long, and nothing to read (no byte, no close).
func (uc *upstreamConn) reusable(idleFor time.Duration) bool {
	return time.Since(uc.idleSince) < idleFor && !uc.conn.eof.Load() && !uc.peek.readable() && !tlsPending(uc.conn.Conn)
}

// tlsPending reports whether a TLS connection holds records it has received
// but not yet handed out (they arrived with the response's last record, so
// the socket shows nothing): a read that may not wait finds them. A deadline
// that expired does not break a tls.Conn for later reads.
func tlsPending(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return false
	}
	var b [1]byte
	if tc.SetReadDeadline(time.Unix(1, 0)) != nil {
		return true
	}
	n, err := tc.Read(b[:])
	if tc.SetReadDeadline(time.Time{}) != nil {
		return true
	}
	return n > 0 || !isTimeout(err)
}

// put returns a connection whose response was read to its end. A connection
// with bytes still buffered goes, as does one the upstream closes.
func (cp *connPool) put(uc *upstreamConn) {
	if uc.br != nil {
		buffered := uc.br.Buffered()
		releaseReader(uc.br)
		uc.br = nil
		if buffered > 0 {
			cp.drop(uc)
			return
		}
	}
	if uc.conn.eof.Load() {
		cp.drop(uc)
		return
	}
	uc.idleSince = time.Now()
	cp.mu.Lock()
	if cp.closed {
		cp.mu.Unlock()
		cp.drop(uc)
		return
	}
	if len(cp.waiters) > 0 {
		w := cp.waiters[0]
		cp.waiters = cp.waiters[1:]
		cp.mu.Unlock()
		w <- uc
		return
	}
	cp.idle = append(cp.idle, uc)
	if !cp.cleaning {
		cp.cleaning = true
		go cp.clean()
	}
	cp.mu.Unlock()
}

// drop closes a connection and frees its slot.
func (cp *connPool) drop(uc *upstreamConn) {
	if uc.br != nil {
		releaseReader(uc.br)
		uc.br = nil
	}
	_ = uc.conn.Close()
	cp.freeSlot()
}

// freeSlot gives a slot to the first waiter, or forgets it.
func (cp *connPool) freeSlot() {
	cp.mu.Lock()
	if len(cp.waiters) > 0 {
		w := cp.waiters[0]
		cp.waiters = cp.waiters[1:]
		cp.mu.Unlock()
		w <- nil
		return
	}
	cp.open--
	cp.mu.Unlock()
}

// clean closes the connections idle longer than idleFor, until none is left.
func (cp *connPool) clean() {
	for {
		time.Sleep(cp.idleFor / 2)
		cutoff := time.Now().Add(-cp.idleFor)
		cp.mu.Lock()
		var old []*upstreamConn
		kept := cp.idle[:0]
		for _, uc := range cp.idle {
			if uc.idleSince.Before(cutoff) || cp.closed {
				old = append(old, uc)
			} else {
				kept = append(kept, uc)
			}
		}
		clear(cp.idle[len(kept):])
		cp.idle = kept
		done := len(cp.idle) == 0
		if done {
			cp.cleaning = false
		}
		cp.mu.Unlock()
		for _, uc := range old {
			cp.drop(uc)
		}
		if done {
			return
		}
	}
}

// closeIdle closes the idle connections; with stop, connections returned
// later are closed too.
func (cp *connPool) closeIdle(stop bool) {
	cp.mu.Lock()
	idle := cp.idle
	cp.idle = nil
	if stop {
		cp.closed = true
	}
	cp.mu.Unlock()
	for _, uc := range idle {
		cp.drop(uc)
	}
}

var readerPool sync.Pool

func acquireReader(c net.Conn) *bufio.Reader {
	if br, ok := readerPool.Get().(*bufio.Reader); ok {
		br.Reset(c)
		return br
	}
	return bufio.NewReaderSize(c, readBufferSize)
}

func releaseReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

var writerPool sync.Pool

func acquireWriter(c net.Conn) *bufio.Writer {
	if bw, ok := writerPool.Get().(*bufio.Writer); ok {
		bw.Reset(c)
		return bw
	}
	return bufio.NewWriterSize(c, writeBufferSize)
}

func releaseWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writerPool.Put(bw)
}
