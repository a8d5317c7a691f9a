// Package proxy forwards a request the gateway has authorized to one upstream
// over pooled HTTP/1.1 connections, streaming bodies both ways and tunnelling
// WebSocket upgrades.
//
// The gateway decides (normalizes the path, matches the rules, verifies the
// token) and hands Forward the result as a Request. Forward owns the header
// hygiene: it removes hop-by-hop headers and those the client's Connection
// header names, every copy and spelling of the identity headers, the client's
// Authorization and access cookie, and every client-sent Forwarded,
// X-Forwarded-*, X-Original-* and X-Real-IP, then sets the gateway's values.
// The upstream request URI is built from scheme, host and path set one by
// one, never by joining the base URL with the client's request target.
//
// # Server settings
//
// Bodies stream only if the Fiber app is configured for it:
//
//   - StreamRequestBody: true. Without it fasthttp reads the whole request
//     body into memory before the handler runs and rejects it with 413 above
//     BodyLimit. With it the handler starts after at most 8 KiB of the body
//     has been read, and Forward pipes the rest to the upstream.
//   - DisablePreParseMultipartForm: true. Otherwise fasthttp consumes a
//     multipart/form-data body of known length before the handler runs
//     (files above 16 MiB go to temporary files), even with
//     StreamRequestBody, and there is no body left to stream.
//   - BodyLimit: with StreamRequestBody it no longer rejects anything; a body
//     longer than BodyLimit is streamed like any other, and BodyLimit only
//     caps the part read ahead (min(BodyLimit, 8 KiB)). A size limit on
//     proxied bodies must be checked by the caller against Content-Length.
//   - ReadTimeout and WriteTimeout: fasthttp arms them once per request, so
//     they would cut off any transfer that lasts longer. While it streams,
//     Forward pushes the read deadline ReadTimeout ahead before each read of
//     the request body and the write deadline WriteTimeout ahead before each
//     write of the response body: they become idle timeouts (no byte for
//     that long) for proxied requests.
//
// Response headers are copied into c.Response() and the body is attached as a
// stream that fasthttp writes after the handler returns, so the caller may
// still add response headers after a successful Forward.
package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// ErrUpstreamUnavailable reports that the upstream could not be reached or
// failed before answering (connection refused, dial timeout, no free
// connection, connection closed). Nothing was written to the client: answer
// 502.
var ErrUpstreamUnavailable = errors.New("upstream unavailable")

// ErrUpstreamTimeout reports that the upstream did not start its response
// within ResponseTimeout after the request was sent. Nothing was written to
// the client: answer 504.
var ErrUpstreamTimeout = errors.New("upstream timeout")

// ErrClientBody reports that reading the client's request body failed (the
// client went away or stalled past the server's ReadTimeout) while it was
// being sent upstream. Nothing was written to the client, whose connection is
// usually gone; answer 400 or just log it.
var ErrClientBody = errors.New("reading client request body")

// Options configure one upstream.
type Options struct {
	// URL is the upstream, "http://host[:port]" or "https://host[:port]",
	// optionally with a trailing "/". A path prefix, query, fragment or
	// user info is refused: the path sent upstream is exactly the path the
	// gateway authorized.
	URL string
	// DialTimeout bounds connecting (TLS handshake included) and waiting for
	// a free pooled connection. Default 5s.
	DialTimeout time.Duration
	// ResponseTimeout bounds the wait for the first bytes of the upstream's
	// response after the request has been sent. The body may take longer.
	// Default 60s.
	ResponseTimeout time.Duration
	// MaxConns bounds the connections open to the upstream. Default 1024.
	MaxConns int
	// Logger receives the proxy's own events (tunnel errors). Default: none.
	Logger *slog.Logger
	// TLSConfig is used for an https upstream. Default: system roots and the
	// URL's host as server name.
	TLSConfig *tls.Config
	// ClientReadTimeout and ClientWriteTimeout are the server's read and
	// write timeouts, applied per body read and write ("no byte for this
	// long"). Zero: read from the Fiber app's config on each request.
	ClientReadTimeout, ClientWriteTimeout time.Duration
}

const (
	defaultDialTimeout     = 5 * time.Second
	defaultResponseTimeout = 60 * time.Second
	defaultMaxConns        = 1024
	// readBufferSize bounds the upstream's response head.
	readBufferSize  = 16 << 10
	writeBufferSize = 16 << 10
	// maxIdleConn closes a pooled upstream connection unused this long.
	maxIdleConn = 10 * time.Second
	// maxBuffered bounds a response body read whole before anything is sent
	// to the client, so that a short one is answered 502 (see relay).
	maxBuffered = 64 << 10
)

// Proxy forwards requests to one upstream. It is safe for concurrent use.
type Proxy struct {
	target          string // scheme://host, for errors
	host            string // sent as Host
	addr            string // host:port to dial
	tlsConfig       *tls.Config
	dialTimeout     time.Duration
	responseTimeout time.Duration
	clientRead      time.Duration
	clientWrite     time.Duration
	pool            *connPool
	log             *slog.Logger

	mu      sync.Mutex
	tunnels map[net.Conn]struct{}
	closed  bool
}

// New checks o, fills in its defaults and returns a Proxy for o.URL. No
// connection is made until the first Forward.
func New(o Options) (*Proxy, error) {
	u, err := parseUpstream(o.URL)
	if err != nil {
		return nil, err
	}
	if o.DialTimeout < 0 || o.ResponseTimeout < 0 || o.MaxConns < 0 {
		return nil, fmt.Errorf("upstream %s: negative timeout or MaxConns", o.URL)
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.ResponseTimeout == 0 {
		o.ResponseTimeout = defaultResponseTimeout
	}
	if o.MaxConns == 0 {
		o.MaxConns = defaultMaxConns
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		target:          u.Scheme + "://" + u.Host,
		host:            u.Host,
		addr:            u.Host,
		dialTimeout:     o.DialTimeout,
		responseTimeout: o.ResponseTimeout,
		clientRead:      o.ClientReadTimeout,
		clientWrite:     o.ClientWriteTimeout,
		log:             o.Logger,
		tunnels:         make(map[net.Conn]struct{}),
	}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		p.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		p.tlsConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if o.TLSConfig != nil {
			p.tlsConfig = o.TLSConfig.Clone()
			if p.tlsConfig.ServerName == "" {
				p.tlsConfig.ServerName = u.Hostname()
			}
		}
	}
	p.pool = &connPool{dial: p.dialPooled, max: o.MaxConns, wait: o.DialTimeout, idleFor: maxIdleConn}
	return p, nil
}

// parseUpstream accepts only a scheme and an authority.
func parseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("upstream %q: scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("upstream %q: no host", raw)
	case u.User != nil:
		return nil, fmt.Errorf("upstream %q: user info is not allowed", raw)
	case u.Path != "" && u.Path != "/", u.RawPath != "":
		return nil, fmt.Errorf("upstream %q: a path prefix is not supported", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("upstream %q: query or fragment is not allowed", raw)
	}
	return u, nil
}

// Forward sends the client's request in c upstream as r describes and relays
// the response. It returns ErrUpstreamUnavailable, ErrUpstreamTimeout or
// ErrClientBody (wrapped) only when nothing has been written to the client
// and c.Response() is untouched; ErrInvalidRequest (wrapped) when r itself is
// unusable. After a nil return the status and headers are in c.Response() and
// the body streams when the handler returns; a WebSocket upgrade has been
// answered with 101 and the connection is tunnelled.
func (p *Proxy) Forward(c *fiber.Ctx, r *Request) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("forward to %s: %w", p.target, err)
	}
	fctx := c.Context()
	readTimeout, writeTimeout := p.clientRead, p.clientWrite
	if readTimeout == 0 && writeTimeout == 0 {
		cfg := c.App().Config() // copies a large struct: configure the options instead
		readTimeout, writeTimeout = cfg.ReadTimeout, cfg.WriteTimeout
	}
	if isWebSocketUpgrade(&fctx.Request.Header) {
		return p.forwardUpgrade(fctx, r, writeTimeout)
	}

	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)
	p.buildRequest(out, fctx, r, false)
	body := attachBody(out, fctx, readTimeout)
	defer body.release()

	resp := fasthttp.AcquireResponse()
	uc, err := p.roundTrip(out, resp, body, fctx.Request.Header.IsHead())
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return p.failure(err, body)
	}
	p.relayResponse(fctx, resp, connEnd{pool: p.pool, uc: uc}, writeTimeout)
	return nil
}

// roundTrip sends out on a pooled connection and reads the response head
// into resp (with the body, when it is short enough to be buffered; see
// readResponse). It returns the connection the body is still to be read
// from.
//
// A request is sent again, once and on a new connection, when its connection
// failed before a single byte of the response arrived: a pooled connection
// the upstream had closed meanwhile (keep-alive timeouts of Node, gunicorn
// and the like end idle connections after a few seconds, and the close may
// cross the request on the wire). That holds for every method, POST included:
// an upstream that answers nothing has not answered, and a connection closed
// before any answer is what a keep-alive race looks like. It is not sent
// again when:
//   - the upstream did not answer within ResponseTimeout (it may be working
//     on it);
//   - any byte of a response had arrived;
//   - the client's body was streamed and more of it had been read than
//     clientBody keeps for a replay (maxReplay), or reading it failed;
//   - connecting failed (nothing was sent, and a second connect would most
//     likely fail the same way).
func (p *Proxy) roundTrip(out *fasthttp.Request, resp *fasthttp.Response, body *clientBody, head bool) (*upstreamConn, error) {
	for try := 0; ; try++ {
		uc, err := p.pool.get(try > 0)
		if err != nil {
			return nil, err
		}
		if err = p.exchange(uc, out, resp, head); err == nil {
			if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
				// Not asked for (Forward sends no Upgrade): what follows
				// on the connection is not HTTP.
				p.pool.drop(uc)
				return nil, errUnaskedSwitch
			}
			return uc, nil
		}
		answered := uc.conn.answered.Load()
		p.pool.drop(uc)
		if try > 0 || answered || isTimeout(err) || !body.rewind(out) {
			return nil, err
		}
	}
}

// exchange writes out on uc and reads the response's head (see
// readResponse) from it.
func (p *Proxy) exchange(uc *upstreamConn, out *fasthttp.Request, resp *fasthttp.Response, head bool) error {
	uc.conn.answered.Store(false)
	bw := acquireWriter(uc.conn)
	err := out.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	releaseWriter(bw)
	if err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	uc.br = acquireReader(uc.conn)
	return readResponse(resp, uc.br, head)
}

// readResponse reads a response from br: its head, past any 1xx interim
// response, and then, when the body has a Content-Length of at most
// maxBuffered, the whole body. A longer body, or one without a length, is
// left for resp.BodyStream. A body shorter than its Content-Length is an
// error here, before anything has been sent to the client.
func readResponse(resp *fasthttp.Response, br *bufio.Reader, head bool) error {
	resp.SkipBody = head
	resp.StreamBody = true
	if err := resp.Read(br); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	stream := resp.BodyStream()
	size := resp.Header.ContentLength()
	if stream == nil || size < 0 || size > maxBuffered {
		return nil
	}
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	b := (*bp)[:size]
	if _, err := io.ReadFull(stream, b); err != nil {
		_ = resp.CloseBodyStream()
		return fmt.Errorf("read response body (Content-Length %d): %w", size, err)
	}
	if err := resp.CloseBodyStream(); err != nil {
		return fmt.Errorf("read response body: %w", err)
	}
	resp.SetBody(b)
	return nil
}

// errUnaskedSwitch refuses a 101 answer to a request that asked for no
// protocol switch.
var errUnaskedSwitch = errors.New("upstream switched protocols unasked")

// bodyBufs hold a buffered response body on its way into the response.
var bodyBufs = sync.Pool{New: func() any {
	b := make([]byte, maxBuffered)
	return &b
}}

// buildRequest writes into out the request line and headers for the upstream.
// Scheme, host, path and query are set one by one; the scheme is always http
// because dial does the TLS.
func (p *Proxy) buildRequest(out *fasthttp.Request, fctx *fasthttp.RequestCtx, r *Request, upgrade bool) {
	s := scratchPool.Get().(*scratch)
	rewriteRequestHeader(&out.Header, &fctx.Request.Header, r, upgrade, s)
	scratchPool.Put(s)

	uri := out.URI()
	uri.DisablePathNormalizing = true
	uri.SetScheme("http")
	uri.SetHost(p.host)
	uri.SetPath(r.Path)
	uri.SetQueryString(r.RawQuery)
}

// failure turns a failed round trip into the error the caller maps to a
// status.
func (p *Proxy) failure(err error, body *clientBody) error {
	var de *dialError
	switch {
	case body != nil && body.err != nil:
		return fmt.Errorf("forward to %s: %w: %w", p.target, ErrClientBody, body.err)
	case errors.As(err, &de), !isTimeout(err):
		return fmt.Errorf("forward to %s: %w: %w", p.target, ErrUpstreamUnavailable, err)
	default:
		return fmt.Errorf("forward to %s: %w: %w", p.target, ErrUpstreamTimeout, err)
	}
}

// relayResponse copies the upstream's status and headers into the client's
// response and attaches its body as a stream. closer, if not nil, is closed
// with the body (the connection of a refused WebSocket upgrade).
func (p *Proxy) relayResponse(fctx *fasthttp.RequestCtx, resp *fasthttp.Response, end connEnd, writeTimeout time.Duration) {
	var dl writeDeadliner
	if writeTimeout > 0 {
		dl = fctx
	}
	relay(&fctx.Response, resp, end, deadlinePusher{dl, writeTimeout})
}

// relay copies the upstream's response resp into dst. A buffered body (see
// readResponse) is moved over; a streamed one is attached as a stream that
// pushes the write deadline ahead with each piece, and its head is sent at
// once: before any byte of it is read, so that server-sent events are not
// held back, and so that a body cut short can only show as a closed
// connection after a complete head, never as an empty reply. end says what
// becomes of the upstream connection when the body is done.
func relay(dst *fasthttp.Response, resp *fasthttp.Response, end connEnd, push deadlinePusher) {
	s := scratchPool.Get().(*scratch)
	copyResponseHeader(&dst.Header, &resp.Header, s)
	scratchPool.Put(s)

	stream := resp.BodyStream()
	if stream == nil {
		if resp.SkipBody || bodiless(resp.StatusCode()) {
			// No body on the wire: HEAD, 1xx, 204, 304. Keep the
			// upstream's Content-Length for HEAD.
			if n := resp.Header.ContentLength(); n >= 0 {
				dst.Header.SetContentLength(n)
			}
			dst.SkipBody = true
		} else {
			// Buffered: swap the bodies, no copy.
			dst.SwapBody(resp.SwapBody(dst.SwapBody(nil)))
		}
		end.finish(true, resp)
		fasthttp.ReleaseResponse(resp)
		return
	}
	size := resp.Header.ContentLength()
	if size < 0 {
		// Chunked or until close: stream it chunked.
		size = -1
	}
	dst.ImmediateHeaderFlush = true
	dst.SetBodyStream(&upstreamBody{
		resp:    resp,
		stream:  stream,
		chunked: resp.Header.ContentLength() == -1,
		push:    push,
		end:     end,
	}, size)
}

// bodiless reports whether a response with this status has no body (RFC 9112
// section 6.3): 1xx, 204 and 304.
func bodiless(status int) bool {
	return status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
}

// Close closes the idle pooled connections and every WebSocket tunnel still
// open. Call it when the server shuts down: fasthttp does not wait for, nor
// close, hijacked connections. Forward keeps working after Close, but new
// tunnels are refused.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := make([]net.Conn, 0, len(p.tunnels))
	for c := range p.tunnels {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	p.pool.closeIdle(false)
	return nil
}
