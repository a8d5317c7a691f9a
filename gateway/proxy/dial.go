package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// dialError marks a failure to connect, so that a dial timeout reads as
// "upstream unavailable" and not as a response timeout.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial upstream: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dial connects to the upstream within DialTimeout, TLS included. TLS is done
// here and not by fasthttp so that headerDeadlineConn sits above it and sees
// the HTTP bytes, not TLS records.
func (p *Proxy) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.dialTimeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, &dialError{err}
	}
	if p.tlsConfig != nil {
		tc := tls.Client(conn, p.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, &dialError{fmt.Errorf("tls handshake: %w", err)}
		}
		conn = tc
	}
	return conn, nil
}

// dialPooled dials a connection for the pool: one that bounds the wait for
// each response's first bytes by ResponseTimeout.
func (p *Proxy) dialPooled() (*headerDeadlineConn, error) {
	conn, err := p.dial()
	if err != nil {
		return nil, err
	}
	return &headerDeadlineConn{Conn: conn, timeout: p.responseTimeout}, nil
}

// headerDeadlineConn bounds how long the upstream may keep silent after a
// request: every write (the request head, each piece of its body) puts a read
// deadline ResponseTimeout ahead, and the first bytes read lift it. So an
// upload or a download may take an hour, and a server-sent-events stream may
// stay quiet for as long as it likes, but an upstream that answers nothing
// for ResponseTimeout after the last byte of the request times out.
//
// A plain read deadline would not do: it would also bound reading a streamed
// response body.
type headerDeadlineConn struct {
	net.Conn
	timeout time.Duration
	armed   atomic.Bool
	eof     atomic.Bool // the upstream has closed its side
	// answered is set by the first byte read after the pool cleared it
	// for a new request.
	answered atomic.Bool
}

func (c *headerDeadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	c.armed.Store(true)
	return c.Conn.Write(b)
}

func (c *headerDeadlineConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err == io.EOF {
		c.eof.Store(true)
	}
	if n > 0 && !c.answered.Load() {
		c.answered.Store(true)
	}
	if n > 0 && c.armed.Swap(false) {
		if derr := c.Conn.SetReadDeadline(time.Time{}); derr != nil && err == nil {
			err = derr
		}
	}
	return n, err
}

// SetReadDeadline keeps the response deadline while it is armed.
func (c *headerDeadlineConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() && c.armed.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline is SetWriteDeadline and SetReadDeadline.
func (c *headerDeadlineConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// isTimeout reports whether err is a deadline that expired.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
