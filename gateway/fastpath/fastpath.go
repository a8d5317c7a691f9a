// Package fastpath is authgate's front end for the common proxied request: a
// few epoll event loops, one per core, that accept the client connections,
// read bodiless GET and HEAD requests, let the gateway decide them and relay
// them to pooled upstream connections, with no goroutine switch, no per
// request timer and no extra copy. It exists because the goroutine-per-
// connection server and client spend about twice the CPU of nginx per
// proxied request on a small machine (see docs/performance.md).
//
// The loops serve only what they can serve exactly as the Fiber app would.
// Besides proxied requests, Route may answer a request itself, without an
// upstream (Exchange.Answer): the gateway's forward-auth endpoint, whose
// answer is a decision (200 with identity headers, 302 to sign in, or a
// 4xx problem document) the loop writes as fasthttp's server would write
// it (Date, no Server, Content-Length, no body for HEAD).
// Everything else is handed over, with the bytes already read, to the Fiber
// app through the listener Handoff returns, and the connection stays there:
//
//   - requests with a body, chunked or Content-Length > 0, Expect, Upgrade,
//     HTTP/1.0, Connection: close;
//   - a head that is not complete in one read, or followed by more bytes
//     (a pipelined request, also one after a head that ends in a bare LF
//     blank line, which fasthttp ends there and headEnd would not);
//   - anything Handler.Route declines: methods other than GET and HEAD
//     (except forward-auth, which nginx asks with the original request's
//     method), the gateway's own routes other than
//     forward-auth, proxied requests it would answer with a problem (400,
//     401, 403), https upstreams, and forward-auth answers it cannot write
//     exactly as the Fiber app would (a 5xx such as the store catching up,
//     which the Fiber app logs with its cause);
//   - an upstream that cannot be reached: the Fiber app tries to connect
//     again, and answers 502 if that fails too.
//
// With tracing on (package tracing), the gateway does not start the loops
// at all: every request is a traced request, served and given its spans by
// the Fiber app, so that one code path makes the spans and the sampling
// decision (docs/tracing.md). With tracing off, the loops do no tracing
// work whatever.
//
// A request for an upstream whose MaxConns connections are all busy is not
// handed over: it waits in its loop's queue (in order, within the upstream's
// ResponseTimeout, for at most QueueFactor × MaxConns requests in all) for a
// connection to free, and is answered 504 when the wait runs out or 503
// (ErrQueueFull) when the queue is full.
//
// An upstream connection that closes before a byte of the response (a stale
// pooled one) gets the request once more, on a new connection, from the loop
// itself; if that fails too the loop answers 502. A pooled connection with
// anything to read before its next request is closed, never reused.
//
// A response the loop would have to stream (chunked, no length, over
// 64 KiB, 1xx) is relayed by a goroutine through proxy.Relay, after which the
// client connection is handed over too. An upstream that does not answer
// within its ResponseTimeout gets 504 from the loop itself.
package fastpath

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"authgate/gateway/proxy"
)

// Handler is the gateway's side of the loops. Route is called on a loop
// goroutine, Problem and Done on a loop or on a relay goroutine: they must be
// safe for concurrent use and must not block.
type Handler interface {
	// Route decides ex, whose Header holds a complete bodiless request
	// (any method) from ex.Peer. It returns false to hand the connection, this
	// request included, to the Fiber app, or true after setting
	// ex.Upstream, ex.Head (the upstream request head) and ex.ID, or after
	// filling ex.Answer() for the loop to answer without an upstream.
	Route(ex *Exchange) bool
	// Problem fills resp with the answer to a routed request that failed
	// after it was sent upstream: timedOut (504) or a broken response (502).
	Problem(ex *Exchange, timedOut bool, err error, resp *fasthttp.Response)
	// Done is called once for every exchange Route accepted, when it has
	// been answered (ex.Status, ex.Err) or handed over (ex.HandedOver).
	Done(ex *Exchange)
}

// Exchange is one request a loop serves.
type Exchange struct {
	Header fasthttp.RequestHeader // the client's request head
	Peer   netip.AddrPort         // the client connection's remote address
	Start  time.Time
	// PeerText is Peer's address as text, kept with the connection: a
	// handler that computes it sets it, and the loop hands it back on the
	// connection's next request.
	PeerText string

	// Set by Handler.Route.
	Upstream *Upstream
	Head     []byte // request head to send upstream
	ID       string // X-Request-Id of the response
	Ctx      any    // the handler's own state

	// Set before Handler.Done.
	Status     int   // status sent to the client
	Err        error // why the exchange failed, if it did
	HandedOver bool  // the Fiber app answers this request instead

	head    bool // a HEAD request
	local   bool // answered by the loop itself: answer
	answer  fasthttp.Response
	retried bool      // sent upstream a second time
	queued  bool      // waiting in its loop's queue for an upstream connection
	due     time.Time // queued: its response headers must be in by then
	raw     []byte    // the client's bytes, for a handover
	cli     *conn
	up      *conn
}

// Answer returns the response the loop writes for ex itself, with no
// upstream, when Route returns true. Route sets its status, headers and
// (small) body; the loop adds what fasthttp's server adds to a response it
// writes: Date, Content-Length (left out for a HEAD without a body), and
// Connection: close when shutting down. A HEAD's body is not sent.
func (ex *Exchange) Answer() *fasthttp.Response {
	ex.local = true
	return &ex.answer
}

// Options configure a Server.
type Options struct {
	// Listener is the listening socket. The loops accept on it; nothing
	// else may.
	Listener *net.TCPListener
	Handler  Handler
	// Upstreams are those the handler routes to; the server keeps their
	// addresses looked up.
	Upstreams []*Upstream
	// Loops is the number of event loops. Default: GOMAXPROCS at start.
	Loops int
	// IdleTimeout closes a keep-alive connection that sends no request for
	// that long. WriteTimeout closes one that takes no response bytes for
	// that long. Both as in the Fiber app's config.
	IdleTimeout, WriteTimeout time.Duration
	Logger                    *slog.Logger
}

// Upstream is one plain-HTTP upstream the loops may dial.
type Upstream struct {
	proxy    *proxy.Proxy
	timeout  time.Duration
	dial     time.Duration
	maxConns int32
	addrs    resolved
	open     atomic.Int32 // connections open on all loops
	index    int          // in Options.Upstreams: the loops' idle lists
	// waiting counts the requests queued for a connection on all loops,
	// at most maxWaiting (QueueFactor × maxConns).
	waiting    atomic.Int32
	maxWaiting int32
}

// QueueFactor bounds the requests that wait for a connection to an
// upstream whose max_conns_per_host connections are all busy: up to
// QueueFactor times that many wait, the next one is answered 503.
const QueueFactor = 4

// ErrQueueFull is the error Handler.Problem receives for a request refused
// because QueueFactor × max_conns_per_host requests are already waiting for
// a connection to its upstream (503 with Retry-After).
var ErrQueueFull = errors.New("too many requests waiting for an upstream connection")

// NewUpstream returns the fast path's view of p, or nil when p is an https
// upstream (served by the Fiber app only). dialTimeout and maxConns are those
// of p.
func NewUpstream(p *proxy.Proxy, dialTimeout time.Duration, maxConns int) (*Upstream, error) {
	addr, plain := p.PlainAddr()
	if !plain {
		return nil, nil
	}
	if maxConns <= 0 {
		maxConns = 1024
	}
	if dialTimeout <= 0 {
		dialTimeout = 5 * time.Second
	}
	u := &Upstream{proxy: p, timeout: p.ResponseTimeout(), dial: dialTimeout, maxConns: int32(maxConns),
		maxWaiting: int32(min(QueueFactor*maxConns, 1<<30))}
	if err := u.addrs.init(addr); err != nil {
		return nil, fmt.Errorf("fast path: upstream %s: %w", addr, err)
	}
	return u, nil
}

// ErrUnsupported is returned by New where the loops cannot run (not Linux,
// or a listener that is not plain TCP).
var ErrUnsupported = errors.New("fast path not supported here")
