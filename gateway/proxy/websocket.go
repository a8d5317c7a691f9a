package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// errProxyClosed refuses new tunnels after Close.
var errProxyClosed = errors.New("proxy closed")

// isWebSocketUpgrade reports whether the client asks to switch to WebSocket:
// a GET without a body, with Upgrade: websocket and Connection: upgrade. Any
// other Upgrade is dropped as a hop-by-hop header and the request is
// forwarded as plain HTTP. (A body would be left on the connection and
// tunnelled to the upstream as if it came after the switch.)
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	cl := h.ContentLength()
	return h.IsGet() && (cl == 0 || cl == -2) &&
		hasToken(h.All(), "Upgrade", "websocket") && hasToken(h.All(), "Connection", "upgrade")
}

// forwardUpgrade proxies a WebSocket handshake on a connection of its own: it
// sends the rewritten request (same header hygiene as any request), reads the
// answer within ResponseTimeout and, on 101, relays the answer and tunnels the
// bytes both ways on the hijacked client connection until either side closes.
// Any other answer is relayed as an ordinary response.
func (p *Proxy) forwardUpgrade(fctx *fasthttp.RequestCtx, r *Request, writeTimeout time.Duration) error {
	if p.isClosed() {
		return fmt.Errorf("forward to %s: %w: %w", p.target, ErrUpstreamUnavailable, errProxyClosed)
	}
	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)
	p.buildRequest(out, fctx, r, true)

	raw, err := p.dial()
	if err != nil {
		return p.failure(err, nil)
	}
	conn := &eofConn{Conn: raw}
	resp, br, err := p.handshake(conn, out)
	if err != nil {
		_ = conn.Close()
		return p.failure(err, nil)
	}
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		p.relayResponse(fctx, resp, connEnd{closer: conn, eof: conn.eof.Load}, writeTimeout)
		return nil
	}
	s := scratchPool.Get().(*scratch)
	head := appendSwitchingProtocols(nil, &resp.Header, s)
	scratchPool.Put(s)
	fasthttp.ReleaseResponse(resp)

	if !p.track(conn) {
		_ = conn.Close()
		return fmt.Errorf("forward to %s: %w: %w", p.target, ErrUpstreamUnavailable, errProxyClosed)
	}
	fctx.HijackSetNoResponse(true)
	fctx.Hijack(func(client net.Conn) {
		defer p.untrack(conn)
		p.tunnel(client, conn, br, head)
	})
	return nil
}

// handshake writes the upgrade request and reads the upstream's answer head,
// both within ResponseTimeout. The body of a non-101 answer is left to stream
// from the returned reader.
func (p *Proxy) handshake(conn net.Conn, out *fasthttp.Request) (*fasthttp.Response, *bufio.Reader, error) {
	if err := conn.SetDeadline(time.Now().Add(p.responseTimeout)); err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriterSize(conn, writeBufferSize)
	if err := out.Write(bw); err != nil {
		return nil, nil, fmt.Errorf("send upgrade request: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, nil, fmt.Errorf("send upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(conn, readBufferSize)
	resp := fasthttp.AcquireResponse()
	if err := readResponse(resp, br, false); err != nil {
		fasthttp.ReleaseResponse(resp)
		return nil, nil, fmt.Errorf("read upgrade response: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		fasthttp.ReleaseResponse(resp)
		return nil, nil, err
	}
	return resp, br, nil
}

// tunnel relays head to the client and then copies bytes both ways until
// either side closes; then it closes both. upstreamR holds what the upstream
// sent after its 101 head. The client connection is fasthttp's hijacked one,
// whose Close is a no-op (fasthttp closes it when the handler returns), so a
// deadline in the past is what stops a pending read on it.
func (p *Proxy) tunnel(client, upstream net.Conn, upstreamR io.Reader, head []byte) {
	defer upstream.Close()
	if _, err := client.Write(head); err != nil {
		p.log.Debug("websocket: relay 101", "upstream", p.target, "err", err)
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(upstream, client)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, upstreamR)
		done <- struct{}{}
	}()
	<-done
	past := time.Unix(1, 0)
	_ = client.SetDeadline(past)
	_ = upstream.SetDeadline(past)
	_ = upstream.Close()
	_ = client.Close()
	<-done
}

// track registers an open tunnel so that Close can end it; false after Close.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.tunnels[c] = struct{}{}
	return true
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.tunnels, c)
	p.mu.Unlock()
}
