package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// This file is what the event-loop front end (package fastpath) needs from
// the proxy: the upstream request head built by the same header rewrite as
// Forward's, the client response head built by the same copy, and the
// streaming relay for a response the loop does not buffer. Both paths share
// every header decision, so a request gets the same upstream request and the
// same response whichever path served it.

// PlainAddr returns the host:port to dial and true when the upstream speaks
// plain HTTP; false for an https upstream, which only Forward serves.
func (p *Proxy) PlainAddr() (string, bool) {
	return p.addr, p.tlsConfig == nil
}

// ResponseTimeout is how long the upstream may take to start its response.
func (p *Proxy) ResponseTimeout() time.Duration { return p.responseTimeout }

// AppendRequestHead appends to dst the head of the request Forward would
// send upstream for the bodiless client request in with decision r: the
// request line, Host, the client's fields that rewriteRequestHeader keeps
// (the same drop and cookie decisions), then the identity, X-Forwarded-* and
// X-Request-Id fields of r, their names as given (see CanonicalName). A
// client field name that is not a token is an ErrInvalidRequest. The bytes
// are written directly rather than
// through a fasthttp header: in was parsed by fasthttp, so its names are
// already in canonical case and its values hold no line breaks. The order of
// the fields may differ from Forward's; their names and values do not. It
// returns ErrInvalidRequest (wrapped) when r is unusable.
func (p *Proxy) AppendRequestHead(dst []byte, in *fasthttp.RequestHeader, r *Request) ([]byte, error) {
	if err := r.validate(); err != nil {
		return dst, fmt.Errorf("forward to %s: %w", p.target, err)
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	dst = append(dst, in.Method()...)
	dst = append(dst, ' ')
	dst = append(dst, r.Path...)
	if r.RawQuery != "" {
		dst = append(dst, '?')
		dst = append(dst, r.RawQuery...)
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, p.host...)
	dst = append(dst, "\r\n"...)

	eachClientField(in, r, s, func(k, v []byte) { dst = appendField(dst, k, v) })
	if s.badName != nil {
		return dst, fmt.Errorf("forward to %s: %w: field name %q", p.target, ErrInvalidRequest, s.badName)
	}
	eachGatewayField(r, func(k, v string) { dst = appendStringField(dst, k, v) })
	return append(dst, "\r\n"...), nil
}

func appendStringField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// CanonicalName returns name in the case fasthttp gives a field name
// (x-user-id: X-User-Id). AppendRequestHead writes the identity names as
// given, so a caller that wants them as Forward sends them passes them
// through this once.
func CanonicalName(name string) string {
	b := []byte(name)
	upper := true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	return string(b)
}

// CopyResponseHeader fills dst, an empty header, with the upstream's status
// and the fields of src the client may see, as Forward does. The body framing
// (Content-Length, Transfer-Encoding) is left to the caller.
func CopyResponseHeader(dst, src *fasthttp.ResponseHeader) {
	s := scratchPool.Get().(*scratch)
	copyResponseHeader(dst, src, s)
	scratchPool.Put(s)
}

// Relay writes to client the response that upstream is sending for a request
// the caller has already sent, as Forward would have relayed it: the same
// head, a body of known length up to maxBuffered read whole first, and a
// longer or unframed body streamed after the head (chunked when the
// upstream's length is not known). prefix is what has already been read from
// upstream. head tells that the request was a HEAD. Every write to client
// pushes its write deadline writeTimeout ahead. It returns the status sent and
// nil when the whole response reached the client; the caller closes upstream
// either way, and closes client after an error: a body cut short after its
// head was sent leaves the client a response it can see is incomplete.
// ErrUpstreamUnavailable (wrapped) means nothing was written to client.
func (p *Proxy) Relay(client, upstream net.Conn, prefix []byte, head bool, requestID string, writeTimeout time.Duration) (int, error) {
	up := &eofConn{Conn: upstream}
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(prefix), up), readBufferSize)
	resp := fasthttp.AcquireResponse()
	err := readResponse(resp, br, head)
	if err == nil && resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
		err = errUnaskedSwitch
	}
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return 0, fmt.Errorf("forward to %s: %w: %w", p.target, ErrUpstreamUnavailable, err)
	}
	out := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(out)
	out.Header.Set("X-Request-Id", requestID)
	dl := &deadlineWriter{conn: client, timeout: writeTimeout}
	relay(out, resp, connEnd{eof: up.eof.Load}, deadlinePusher{}) // dl pushes on each write
	bw := bufio.NewWriterSize(dl, writeBufferSize)
	err = out.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	return out.StatusCode(), err
}

// eofConn records that the peer has closed its side.
type eofConn struct {
	net.Conn
	eof atomic.Bool
}

func (c *eofConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

// deadlineWriter pushes conn's write deadline timeout ahead before each write,
// so that the timeout bounds a stall, not the whole response.
type deadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	if w.timeout > 0 {
		_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	return w.conn.Write(b)
}
