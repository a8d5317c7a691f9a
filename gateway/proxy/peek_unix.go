//go:build unix

package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// peeker tells whether a connection has anything to read right now, without
// reading it: one non-blocking recv with MSG_PEEK on its socket. The socket
// handle and the callback are made once per connection, so a check allocates
// nothing.
type peeker struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool
	buf  [1]byte
	n    int
	err  error
	none bool // not a socket: nothing to ask
}

func (p *peeker) init(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn() // any TLS record arriving while idle counts
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		p.none = true
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		p.none = true
		return
	}
	p.rc = rc
	p.fn = func(fd uintptr) bool {
		p.n, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}
}

// readable reports whether a byte or the peer's close (or an error) is
// waiting on the connection.
func (p *peeker) readable() bool {
	if p.none {
		return false
	}
	if err := p.rc.Read(p.fn); err != nil {
		return true
	}
	return p.err != syscall.EAGAIN && p.err != syscall.EINTR
}
