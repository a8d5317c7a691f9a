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
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"syscall"
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
	client          *fasthttp.HostClient
	log             *slog.Logger
	pooled          sync.Map // local address -> *headerDeadlineConn

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
	p.client = &fasthttp.HostClient{
		Addr:                     p.addr,
		Dial:                     p.dialPooled,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		MaxConns:                 o.MaxConns,
		MaxConnWaitTimeout:       o.DialTimeout,
		ReadBufferSize:           readBufferSize,
		WriteBufferSize:          writeBufferSize,
		StreamResponseBody:       true,
		RetryIfErr:               retryIfStale,
		// ReadTimeout stays 0: it would also bound streamed response
		// bodies. headerDeadlineConn bounds the wait for the response.
	}
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

// retryIfStale lets fasthttp resend a GET, HEAD or OPTIONS (on a new
// connection) only when a pooled connection turned out to be closed by the
// upstream before it answered. A timeout is never retried: the upstream may be working
// on it. (fasthttp never retries a request with a streamed body.)
func retryIfStale(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	if isTimeout(err) {
		return false, false
	}
	h := &req.Header
	if !h.IsGet() && !h.IsHead() && !h.IsOptions() {
		return false, false
	}
	return false, errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
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

	resp := fasthttp.AcquireResponse()
	if err := p.client.Do(out, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		return p.failure(err, body)
	}
	p.relayResponse(fctx, resp, nil, writeTimeout)
	return nil
}

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
func (p *Proxy) relayResponse(fctx *fasthttp.RequestCtx, resp *fasthttp.Response, closer io.Closer, writeTimeout time.Duration) {
	var dl writeDeadliner
	if writeTimeout > 0 {
		dl = fctx
	}
	p.relay(&fctx.Response, resp, closer, deadlinePusher{dl, writeTimeout}, nil)
}

// relay copies the upstream's response resp into dst, the body attached as a
// stream that pushes the write deadline ahead with each piece. upstreamEOF
// reports that the upstream closed its connection; nil: look it up by the
// response's local address (HostClient connections).
func (p *Proxy) relay(dst *fasthttp.Response, resp *fasthttp.Response, closer io.Closer, push deadlinePusher, upstreamEOF func() bool) {
	s := scratchPool.Get().(*scratch)
	copyResponseHeader(&dst.Header, &resp.Header, s)
	scratchPool.Put(s)

	stream := resp.BodyStream()
	if stream == nil {
		// No body on the wire: HEAD, 1xx, 204, 304. Keep the upstream's
		// Content-Length for HEAD.
		if n := resp.Header.ContentLength(); n >= 0 {
			dst.Header.SetContentLength(n)
		}
		dst.SkipBody = true
		fasthttp.ReleaseResponse(resp)
		if closer != nil {
			_ = closer.Close()
		}
		return
	}
	size := resp.Header.ContentLength()
	if size < 0 {
		// Chunked or until close: stream it chunked, and send the head at
		// once so that server-sent events are not held back.
		size = -1
		dst.ImmediateHeaderFlush = true
	}
	dst.SetBodyStream(&upstreamBody{
		p:           p,
		resp:        resp,
		stream:      stream,
		chunked:     resp.Header.ContentLength() == -1,
		push:        push,
		closer:      closer,
		upstreamEOF: upstreamEOF,
	}, size)
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
	p.client.CloseIdleConnections()
	return nil
}
