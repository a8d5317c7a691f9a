package fastpath

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"

	"authgate/gateway/proxy"
)

const (
	// maxHead bounds a request head the loop reads (the Fiber app's
	// ReadBufferSize: a longer one is handed over and answered 431 there)
	// and a response head (as the proxy's HostClient: longer gets 502).
	maxHead = 16 << 10
	// maxInline bounds a response (head and body) relayed from memory;
	// a longer one is streamed by a relay goroutine.
	maxInline = 64 << 10
	// scanEvery is how often deadlines are checked.
	scanEvery = 50 * time.Millisecond
	// upstreamIdle closes a pooled upstream connection unused this long
	// (as fasthttp's HostClient does).
	upstreamIdle = 10 * time.Second
	// acceptBatch bounds the connections accepted per readiness event, so
	// a flood of new connections cannot starve those already open.
	acceptBatch = 64
)

var (
	errTimeout         = errors.New("upstream did not answer in time")
	errDialTimeout     = errors.New("upstream connect timed out")
	errTooManyConns    = errors.New("upstream connection limit reached")
	errNoAddress       = errors.New("upstream host not resolved yet")
	errHeadTooLarge    = errors.New("upstream response head too large")
	errClientGone      = errors.New("client closed the connection")
	errUnknownUpstream = errors.New("upstream not in Options.Upstreams")
	errShutdown        = errors.New("server shut down")
	errQueueTimeout    = errors.New("no upstream connection free in time")
)

type connKind uint8

const (
	kindClient connKind = iota
	kindUpstream
)

// conn is one socket a loop owns.
type conn struct {
	fd       int
	gen      int32 // tells this conn from an earlier one on the same fd
	kind     connKind
	events   uint32 // registered with epoll
	peer     netip.AddrPort
	peerText string    // Exchange.PeerText
	ex       *Exchange // in flight
	out      []byte    // not yet written
	in       []byte    // upstream: response bytes read so far
	deadline time.Time // zero: none

	up         *Upstream // upstream conns
	connecting bool
	idleAt     int // index in the loop's idle list, -1 when not idle
}

type loop struct {
	s     *Server
	ep    int
	efd   int // eventfd: Shutdown wakes the loop
	conns connTable
	idle  [][]*conn // pooled upstream connections, by Upstream.index
	// waiting are the exchanges queued for a connection, in arrival
	// order, by Upstream.index; queued counts them on this loop.
	waiting []exQueue
	queued  int
	gen     int32
	buf     []byte
	wbuf    []byte
	peek    [1]byte // readable's scratch
	rd      bytes.Reader
	br      *bufio.Reader
	rh      fasthttp.ResponseHeader
	out     fasthttp.ResponseHeader
	events  []unix.EpollEvent
	now     time.Time
	scan    time.Time
	closed  bool // accepting stopped
	next    int  // the loop the next accepted connection goes to

	mu       sync.Mutex
	incoming []accepted // connections another loop accepted for this one
}

// accepted is a client connection accepted by one loop for another.
type accepted struct {
	fd   int
	peer netip.AddrPort
}

var exPool = sync.Pool{New: func() any { return new(Exchange) }}

func getExchange() *Exchange { return exPool.Get().(*Exchange) }

func putExchange(ex *Exchange) {
	ex.Header.Reset()
	ex.Upstream, ex.ID, ex.Ctx, ex.Status, ex.Err, ex.HandedOver, ex.PeerText = nil, "", nil, 0, nil, false, ""
	ex.Head, ex.raw = ex.Head[:0], ex.raw[:0]
	ex.head, ex.retried, ex.cli, ex.up = false, false, nil, nil
	ex.queued, ex.due = false, time.Time{}
	if ex.local {
		ex.answer.Reset()
		ex.local = false
	}
	exPool.Put(ex)
}

func newLoop(s *Server) (*loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fast path: epoll_create: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(ep)
		return nil, fmt.Errorf("fast path: eventfd: %w", err)
	}
	l := &loop{
		s: s, ep: ep, efd: efd,
		idle:    make([][]*conn, len(s.o.Upstreams)),
		waiting: make([]exQueue, len(s.o.Upstreams)),
		buf:     make([]byte, maxInline),
		events:  make([]unix.EpollEvent, 256),
	}
	l.br = bufio.NewReaderSize(&l.rd, maxInline)
	for _, fd := range []int{s.lfd, efd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd), Pad: -1}
		if fd == s.lfd {
			ev.Events |= unix.EPOLLEXCLUSIVE
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			_ = unix.Close(ep)
			_ = unix.Close(efd)
			return nil, fmt.Errorf("fast path: epoll_ctl: %w", err)
		}
	}
	return l, nil
}

// run is the loop. It returns when the server has shut down and every
// connection of this loop is closed.
func (l *loop) run() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		n, err := poll(l.ep, l.events, 0)
		if n == 0 && err == nil {
			n, err = poll(l.ep, l.events, int(scanEvery/time.Millisecond))
		}
		if err != nil && err != unix.EINTR {
			l.closed = true
			l.stopAll(err)
			return fmt.Errorf("fast path: epoll_wait: %w", err)
		}
		l.now = time.Now()
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			switch fd := int(ev.Fd); {
			case ev.Pad == -1 && fd == l.s.lfd:
				l.accept()
			case ev.Pad == -1 && fd == l.efd:
				var b [8]byte
				_, _ = unix.Read(l.efd, b[:])
				l.adopt()
			default:
				if c := l.conns.get(fd); c != nil && c.gen == ev.Pad {
					l.event(c, ev.Events)
				}
			}
		}
		if !l.now.Before(l.scan) {
			l.expire()
			l.scan = l.now.Add(scanEvery)
		}
		if l.queued > 0 {
			l.dispatch()
		}
		if l.s.closing.Load() && l.shutdown() {
			return nil
		}
	}
}

// shutdown stops accepting and closes what is idle; it reports whether the
// loop has nothing left. After the server's force flag, everything goes.
func (l *loop) shutdown() bool {
	if !l.closed {
		l.closed = true
		_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.s.lfd, nil)
	}
	l.adopt() // closes what other loops accepted for this one
	if l.s.force.Load() {
		l.stopAll(errShutdown)
		return true
	}
	for _, c := range l.conns.all() {
		if c.ex != nil || len(c.out) > 0 {
			continue // in flight: closed after its response
		}
		if c.kind == kindClient && pending(c.fd) {
			// A request arrived before the loop saw it: serve it rather
			// than close a socket with unread bytes, which resets it.
			l.readRequest(c)
			continue
		}
		l.close(c)
	}
	return l.conns.n == 0
}

// pending reports whether bytes wait to be read on fd.
func pending(fd int) bool {
	var b [1]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil && n > 0
}

// stopAll closes every connection, aborting what is in flight.
func (l *loop) stopAll(err error) {
	for _, c := range l.conns.all() {
		if c.kind == kindClient {
			l.abort(c, err)
		}
	}
	for _, c := range l.conns.all() {
		l.close(c)
	}
}

// accept takes new connections and deals them out to the loops in turn, so
// that every loop gets its share however the wakeups fall.
func (l *loop) accept() {
	for range acceptBatch {
		fd, sa, err := unix.Accept4(l.s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.ECONNABORTED || err == unix.EINTR {
				continue
			}
			if err != unix.EAGAIN && !l.s.closing.Load() { // EINVAL once Shutdown stopped the listener
				l.s.o.Logger.Warn("fast path: accept", "err", err)
			}
			return
		}
		if l.s.closing.Load() {
			_ = unix.Close(fd) // shutting down: no new connections
			continue
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		loops := l.s.loops
		to := loops[l.next%len(loops)]
		l.next++
		if to == l {
			l.open(fd, addrPort(sa))
			continue
		}
		to.mu.Lock()
		to.incoming = append(to.incoming, accepted{fd, addrPort(sa)})
		to.mu.Unlock()
		var one = [8]byte{1}
		_, _ = unix.Write(to.efd, one[:])
	}
}

// adopt opens the connections other loops accepted for this one.
func (l *loop) adopt() {
	l.mu.Lock()
	in := l.incoming
	l.incoming = nil
	l.mu.Unlock()
	for _, a := range in {
		if l.closed {
			_ = unix.Close(a.fd)
			continue
		}
		l.open(a.fd, a.peer)
	}
}

// open starts serving a new client connection.
func (l *loop) open(fd int, peer netip.AddrPort) {
	c := &conn{fd: fd, kind: kindClient, peer: peer, idleAt: -1}
	if err := l.add(c, unix.EPOLLIN|unix.EPOLLRDHUP); err != nil {
		_ = unix.Close(fd)
		return
	}
	c.deadline = l.now.Add(l.s.o.IdleTimeout)
}

func (l *loop) add(c *conn, events uint32) error {
	l.gen++
	if l.gen < 0 {
		l.gen = 0
	}
	c.gen, c.events = l.gen, events
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd), Pad: c.gen}); err != nil {
		return err
	}
	l.conns.set(c)
	return nil
}

func (l *loop) watch(c *conn, events uint32) {
	if c.events == events {
		return
	}
	c.events = events
	_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd), Pad: c.gen})
}

// close closes c's socket and forgets it. An exchange in flight on c is
// the caller's business.
func (l *loop) close(c *conn) {
	if l.conns.get(c.fd) != c {
		return
	}
	l.conns.del(c.fd)
	_ = unix.Close(c.fd) // also removes it from the epoll set
	if c.kind == kindUpstream {
		l.unpool(c)
		c.up.open.Add(-1)
	}
}

// detach forgets c without closing its socket, which now belongs to Go's
// poller (handover, relay).
func (l *loop) detach(c *conn) (net.Conn, error) {
	l.conns.del(c.fd)
	_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
	return fdConn(c.fd)
}

func (l *loop) event(c *conn, ev uint32) {
	if c.kind == kindUpstream {
		switch {
		case c.connecting:
			l.connected(c)
		case ev&unix.EPOLLOUT != 0 && len(c.out) > 0:
			l.flushUpstream(c)
		case ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0:
			l.readResponse(c)
		}
		return
	}
	if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		l.abort(c, errClientGone)
		l.close(c)
		return
	}
	if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		l.flushClient(c)
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
		if c.ex != nil || len(c.out) > 0 {
			// Busy: the next request waits in the socket until this
			// one is answered.
			l.watch(c, c.events&^(unix.EPOLLIN|unix.EPOLLRDHUP))
			return
		}
		l.readRequest(c)
	}
}

// readRequest reads one request head from an idle client connection and
// serves it, or hands the connection over.
func (l *loop) readRequest(c *conn) {
	n, err := rawRead(c.fd, l.buf[:maxHead])
	if n <= 0 {
		if err != unix.EAGAIN && err != unix.EINTR {
			l.close(c) // EOF or error between requests
		}
		return
	}
	data := l.buf[:n]
	if headEnd(data) != n {
		// Incomplete, with a body, or pipelined: the Fiber app reads it.
		l.handover(c, data)
		return
	}
	ex := getExchange()
	l.rd.Reset(data)
	l.br.Reset(&l.rd)
	// fasthttp ends a head at the first empty line, a bare LF one
	// included, where headEnd looks for CRLF CRLF: bytes it left unread
	// are a request the Fiber app must answer, never dropped.
	if err := ex.Header.Read(l.br); err != nil || l.br.Buffered()+l.rd.Len() != 0 || !eligible(&ex.Header) {
		putExchange(ex)
		l.handover(c, data)
		return
	}
	ex.Peer, ex.Start, ex.head, ex.PeerText = c.peer, l.now, ex.Header.IsHead(), c.peerText
	routed := l.s.o.Handler.Route(ex)
	c.peerText = ex.PeerText
	if !routed {
		putExchange(ex)
		l.handover(c, data)
		return
	}
	ex.cli, c.ex = c, ex
	c.deadline = time.Time{}
	if ex.local {
		l.answer(ex)
		return
	}
	ex.raw = append(ex.raw[:0], data...)
	l.send(ex)
}

// answer writes the response Route made for ex (Exchange.Answer) as
// fasthttp's server writes a response held in memory: the same
// Content-Length rule (none on a HEAD without a body), Date, no body on
// HEAD. (Route answers 200, 302 or 4xx: no status whose body fasthttp
// would leave out.)
func (l *loop) answer(ex *Exchange) {
	resp := &ex.answer
	body := resp.Body()
	if !ex.head || len(body) > 0 {
		resp.Header.SetContentLength(len(body))
	}
	if l.s.closing.Load() {
		resp.Header.SetConnectionClose()
	}
	wb := resp.Header.AppendBytes(l.wbuf[:0])
	if !ex.head {
		wb = append(wb, body...)
	}
	l.wbuf = wb[:0]
	ex.Status = resp.StatusCode()
	l.respond(ex, wb)
}

// handover gives the client connection, with the bytes read from it, to the
// Fiber app.
func (l *loop) handover(c *conn, read []byte) {
	prefix := append([]byte(nil), read...)
	l.s.handedOver.Add(1)
	nc, err := l.detach(c)
	if err != nil {
		l.s.o.Logger.Warn("fast path: handover", "err", err)
		return
	}
	l.s.handoff.push(nc, prefix)
}

// retreat hands a routed request over before any of its response was read:
// the Fiber app decides and sends it again.
func (l *loop) retreat(ex *Exchange) {
	c := ex.cli
	c.ex = nil
	ex.HandedOver = true
	l.handover(c, ex.raw)
	l.s.o.Handler.Done(ex)
	putExchange(ex)
}

// send gives ex an upstream connection and writes its head, or waits for
// the connect. A second try (ex.retried) goes on a new connection, and if it
// cannot start the loop answers 502 itself.
func (l *loop) send(ex *Exchange) {
	if !ex.retried && ex.Upstream.index < len(l.waiting) && l.waiting[ex.Upstream.index].len() > 0 {
		l.enqueue(ex) // behind those already waiting
		return
	}
	u, err := l.upstreamConn(ex.Upstream, ex.retried)
	if err == errTooManyConns && !ex.retried {
		l.enqueue(ex)
		return
	}
	if err != nil {
		if ex.retried {
			l.problem(ex, false, err)
			return
		}
		l.retreat(ex)
		return
	}
	l.start(ex, u)
}

// start sends ex on u, or waits for u's connect.
func (l *loop) start(ex *Exchange, u *conn) {
	ex.up, u.ex = u, ex
	if u.connecting {
		u.deadline = l.now.Add(ex.Upstream.dial)
		return
	}
	l.writeHead(u)
}

// enqueue makes ex wait for a connection to its upstream, all of whose
// connections are busy, instead of handing it to the Fiber app (which would
// keep its client connection for good). The wait counts toward the
// response timeout; when QueueFactor × max_conns_per_host requests are
// already waiting, ex is answered 503 at once.
func (l *loop) enqueue(ex *Exchange) {
	up := ex.Upstream
	if up.waiting.Add(1) > up.maxWaiting {
		up.waiting.Add(-1)
		l.problem(ex, false, ErrQueueFull)
		return
	}
	ex.queued, ex.due = true, l.now.Add(up.timeout)
	ex.cli.deadline = ex.due // expire answers 504 then
	l.waiting[up.index].push(ex)
	l.queued++
}

// dequeue takes ex out of its queue.
func (l *loop) dequeue(ex *Exchange) {
	l.waiting[ex.Upstream.index].remove(ex)
	ex.queued = false
	ex.cli.deadline = time.Time{}
	ex.Upstream.waiting.Add(-1)
	l.queued--
}

// dispatch gives queued exchanges, oldest first, the connections that have
// freed up: pooled ones of this loop, or new ones when other loops closed
// theirs.
func (l *loop) dispatch() {
	for i := range l.waiting {
		q := &l.waiting[i]
		for q.len() > 0 {
			ex := q.front()
			u, err := l.upstreamConn(ex.Upstream, false)
			if err == errTooManyConns {
				break
			}
			l.dequeue(ex)
			if err != nil {
				l.retreat(ex) // cannot connect: as send does
				continue
			}
			l.start(ex, u)
		}
	}
}

func (l *loop) upstreamConn(up *Upstream, fresh bool) (*conn, error) {
	if up.index >= len(l.s.o.Upstreams) || l.s.o.Upstreams[up.index] != up {
		return nil, errUnknownUpstream
	}
	for list := l.idle[up.index]; len(list) > 0 && !fresh; list = l.idle[up.index] {
		u := list[len(list)-1]
		l.idle[up.index] = list[:len(list)-1]
		u.idleAt = -1
		if readable(u.fd, &l.peek) {
			// Bytes or a close arrived while it was idle, and the loop
			// has not seen the event yet: never read them as the next
			// request's answer.
			l.close(u)
			continue
		}
		return u, nil
	}
	if up.open.Load() >= up.maxConns {
		return nil, errTooManyConns
	}
	ap, ok := up.addrs.pick()
	if !ok {
		return nil, errNoAddress
	}
	family, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	if ap.Addr().Is6() {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	u := &conn{fd: fd, kind: kindUpstream, up: up, idleAt: -1}
	switch err := unix.Connect(fd, sa); err {
	case nil:
	case unix.EINPROGRESS:
		u.connecting = true
	default:
		_ = unix.Close(fd)
		return nil, err
	}
	events := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	if u.connecting {
		events = unix.EPOLLOUT
	}
	if err := l.add(u, events); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	up.open.Add(1)
	return u, nil
}

// connected finishes a non-blocking connect and sends the waiting head.
func (l *loop) connected(u *conn) {
	v, err := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && v != 0 {
		err = unix.Errno(v)
	}
	if err != nil {
		l.upstreamFailed(u, err)
		return
	}
	u.connecting = false
	l.watch(u, unix.EPOLLIN|unix.EPOLLRDHUP)
	if u.ex == nil { // the client went away meanwhile
		l.pool(u)
		return
	}
	l.writeHead(u)
}

// write sends b on c and keeps in c.out what the socket does not take now
// (b may be c.out). It reports whether all of it went.
func (l *loop) write(c *conn, b []byte) (done bool, err error) {
	n, err := rawWrite(c.fd, b)
	if err == unix.EAGAIN {
		n, err = 0, nil
	}
	if err != nil {
		return false, err
	}
	c.out = append(c.out[:0], b[n:]...)
	return len(c.out) == 0, nil
}

func (l *loop) writeHead(u *conn) {
	done, err := l.write(u, u.ex.Head)
	if err != nil {
		l.upstreamFailed(u, err)
		return
	}
	u.deadline = l.now.Add(u.ex.Upstream.timeout)
	if !done {
		l.watch(u, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT)
	}
}

func (l *loop) flushUpstream(u *conn) {
	done, err := l.write(u, u.out)
	if err != nil {
		l.upstreamFailed(u, err)
		return
	}
	if done {
		l.watch(u, unix.EPOLLIN|unix.EPOLLRDHUP)
	}
}

// upstreamFailed handles an upstream connection that failed or closed. An
// exchange of which no response byte has arrived is tried once more: a
// refused connect by the Fiber app (nothing reached the upstream), a request
// already sent (a stale pooled connection) by the loop itself, on a new
// connection. So a request reaches the upstream at most twice. After part of
// a response, or a second failure, the client gets 502.
func (l *loop) upstreamFailed(u *conn, err error) {
	ex := u.ex
	partial := len(u.in) > 0
	connecting := u.connecting
	u.ex, u.in = nil, u.in[:0]
	l.close(u)
	if ex == nil {
		return
	}
	ex.up = nil
	switch {
	case partial || ex.retried:
		l.problem(ex, false, err)
	case connecting:
		l.retreat(ex)
	default:
		ex.retried = true
		l.send(ex)
	}
}

// readResponse reads from an upstream connection: the response to its
// exchange, or, on an idle pooled connection, its close.
func (l *loop) readResponse(u *conn) {
	ex := u.ex
	if ex == nil {
		l.close(u) // closed by the upstream while pooled, or stray bytes
		return
	}
	n, err := rawRead(u.fd, l.buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if n <= 0 {
		if err == nil {
			err = io.EOF
		}
		l.upstreamFailed(u, err)
		return
	}
	data := l.buf[:n]
	if len(u.in) > 0 {
		u.in = append(u.in, data...)
		data = u.in
	}
	end := headEnd(data)
	if end < 0 {
		if len(data) >= maxHead {
			l.broken(u, errHeadTooLarge)
			return
		}
		u.in = append(u.in[:0], data...)
		return
	}
	l.rd.Reset(data[:end])
	l.br.Reset(&l.rd)
	l.rh.Reset()
	if err := l.rh.Read(l.br); err != nil {
		l.broken(u, err)
		return
	}
	status := l.rh.StatusCode()
	body := 0
	switch {
	case status < 200:
		l.relay(u, data)
		return
	case ex.head || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified:
	default:
		body = l.rh.ContentLength()
		if body < 0 || end+body > maxInline {
			l.relay(u, data) // chunked, until close, or large: stream it
			return
		}
	}
	if len(data) < end+body {
		u.in = append(u.in[:0], data...)
		return
	}
	reuse := len(data) == end+body && !l.rh.ConnectionClose()

	l.out.Reset()
	l.out.DisableNormalizing() // the names come from l.rh, normalized by its parse
	l.out.Set("X-Request-Id", ex.ID)
	proxy.CopyResponseHeader(&l.out, &l.rh)
	if l.s.closing.Load() {
		l.out.SetConnectionClose() // the connection ends after this response
	}
	if cl := l.rh.ContentLength(); cl >= 0 {
		l.out.SetContentLength(cl)
	}
	wb := l.out.AppendBytes(l.wbuf[:0])
	wb = append(wb, data[end:end+body]...)
	l.wbuf = wb[:0]
	ex.Status = status

	u.ex, u.in, ex.up = nil, u.in[:0], nil
	if reuse {
		l.pool(u)
	} else {
		l.close(u)
	}
	l.respond(ex, wb)
}

// broken answers 502 for an upstream whose response could not be read.
func (l *loop) broken(u *conn, err error) {
	ex := u.ex
	u.ex, u.in, ex.up = nil, u.in[:0], nil
	l.close(u)
	l.problem(ex, false, err)
}

func (l *loop) pool(u *conn) {
	if l.s.closing.Load() && l.waiting[u.up.index].len() == 0 {
		l.close(u)
		return
	}
	u.deadline = l.now.Add(upstreamIdle)
	u.idleAt = len(l.idle[u.up.index])
	l.idle[u.up.index] = append(l.idle[u.up.index], u)
}

func (l *loop) unpool(u *conn) {
	if u.idleAt < 0 {
		return
	}
	list := l.idle[u.up.index]
	last := list[len(list)-1]
	list[u.idleAt], last.idleAt = last, u.idleAt
	l.idle[u.up.index] = list[:len(list)-1]
	u.idleAt = -1
}

// problem answers ex with the handler's problem document (502, 504).
func (l *loop) problem(ex *Exchange, timedOut bool, err error) {
	resp := fasthttp.AcquireResponse()
	l.s.o.Handler.Problem(ex, timedOut, err, resp)
	resp.Header.SetContentLength(len(resp.Body()))
	if l.s.closing.Load() {
		resp.Header.SetConnectionClose()
	}
	wb := resp.Header.AppendBytes(l.wbuf[:0])
	if !ex.head {
		wb = append(wb, resp.Body()...)
	}
	l.wbuf = wb[:0]
	ex.Status, ex.Err = resp.StatusCode(), err
	fasthttp.ReleaseResponse(resp)
	l.respond(ex, wb)
}

// respond ends ex and writes its response wb to the client.
func (l *loop) respond(ex *Exchange, wb []byte) {
	l.s.served.Add(1)
	c := ex.cli
	c.ex = nil
	l.s.o.Handler.Done(ex)
	putExchange(ex)
	done, err := l.write(c, wb)
	if err != nil {
		l.close(c)
		return
	}
	if !done {
		c.deadline = l.now.Add(l.s.o.WriteTimeout)
		l.watch(c, unix.EPOLLOUT)
		return
	}
	l.idleClient(c)
}

func (l *loop) flushClient(c *conn) {
	done, err := l.write(c, c.out)
	if err != nil {
		l.close(c)
		return
	}
	if !done {
		c.deadline = l.now.Add(l.s.o.WriteTimeout)
		return
	}
	l.idleClient(c)
}

// idleClient waits for the next request on c, or closes it when shutting
// down.
func (l *loop) idleClient(c *conn) {
	if l.s.closing.Load() {
		l.close(c)
		return
	}
	c.deadline = l.now.Add(l.s.o.IdleTimeout)
	l.watch(c, unix.EPOLLIN|unix.EPOLLRDHUP)
}

// abort ends the exchange in flight on client c, if any, because c is going
// away: its upstream connection is closed (the response is not wanted).
func (l *loop) abort(c *conn, err error) {
	ex := c.ex
	if ex == nil {
		return
	}
	if ex.queued {
		l.dequeue(ex)
	}
	c.ex = nil
	if u := ex.up; u != nil {
		u.ex = nil
		if u.connecting {
			u.deadline = l.now.Add(ex.Upstream.dial) // pooled once connected
		} else {
			l.close(u)
		}
	}
	ex.Status, ex.Err = 499, err
	l.s.o.Handler.Done(ex)
	putExchange(ex)
}

// expire acts on the deadlines that have passed, and closes this loop's
// idle connections to an upstream for which other loops have requests
// waiting, so that they can connect.
func (l *loop) expire() {
	for i, list := range l.idle {
		if len(list) > 0 && l.waiting[i].len() == 0 && l.s.o.Upstreams[i].waiting.Load() > 0 {
			for _, u := range slices.Clone(list) {
				l.close(u)
			}
		}
	}
	for _, c := range l.conns.all() {
		if c.deadline.IsZero() || l.now.Before(c.deadline) {
			continue
		}
		switch {
		case c.kind == kindClient && c.ex != nil && c.ex.queued:
			ex := c.ex
			l.dequeue(ex)
			l.problem(ex, true, errQueueTimeout)
		case c.kind == kindClient:
			l.abort(c, errClientGone)
			l.close(c) // idle too long, or not reading its response
		case c.connecting && c.ex != nil:
			l.upstreamFailed(c, errDialTimeout)
		case c.ex == nil:
			l.close(c) // pooled too long, or connected too late
		default:
			ex := c.ex
			c.ex, ex.up = nil, nil
			l.close(c)
			l.problem(ex, true, errTimeout)
		}
	}
}

// relay hands a response the loop does not buffer to a goroutine that
// streams it (proxy.Relay), then gives the client connection to the Fiber
// app.
func (l *loop) relay(u *conn, data []byte) {
	ex := u.ex
	c := ex.cli
	prefix := append([]byte(nil), data...)
	u.ex, u.in, ex.up, c.ex = nil, nil, nil, nil
	l.unpool(u)
	un, uerr := l.detach(u)
	cn, cerr := l.detach(c)
	if uerr != nil || cerr != nil {
		for _, nc := range []net.Conn{un, cn} {
			if nc != nil {
				_ = nc.Close()
			}
		}
		ex.Upstream.open.Add(-1)
		ex.Status, ex.Err = 502, errors.Join(uerr, cerr)
		l.s.o.Handler.Done(ex)
		putExchange(ex)
		return
	}
	l.s.relays.Add(1)
	l.s.relayed.Add(1)
	go l.s.relayExchange(ex, cn, un, prefix)
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// connTable holds a loop's connections by file descriptor (small integers
// the kernel reuses): a slice, not a map, on the per-event path.
type connTable struct {
	byFD []*conn
	n    int
}

func (t *connTable) get(fd int) *conn {
	if fd < len(t.byFD) {
		return t.byFD[fd]
	}
	return nil
}

func (t *connTable) set(c *conn) {
	for c.fd >= len(t.byFD) {
		t.byFD = append(t.byFD, make([]*conn, len(t.byFD)+64)...)
	}
	if t.byFD[c.fd] == nil {
		t.n++
	}
	t.byFD[c.fd] = c
}

func (t *connTable) del(fd int) {
	if fd < len(t.byFD) && t.byFD[fd] != nil {
		t.byFD[fd] = nil
		t.n--
	}
}

// all iterates over the connections; removing the current one is allowed.
func (t *connTable) all() func(yield func(int, *conn) bool) {
	return func(yield func(int, *conn) bool) {
		for fd, c := range t.byFD {
			if c != nil && !yield(fd, c) {
				return
			}
		}
	}
}

// exQueue is a FIFO of exchanges waiting for an upstream connection.
type exQueue struct {
	items []*Exchange
	head  int
}

func (q *exQueue) len() int { return len(q.items) - q.head }

func (q *exQueue) front() *Exchange { return q.items[q.head] }

func (q *exQueue) push(ex *Exchange) {
	if q.head > 0 && q.head >= len(q.items)/2 { // reuse the consumed half
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, ex)
}

// remove takes ex out, wherever it is (the front, unless its client left
// or its wait ran out).
func (q *exQueue) remove(ex *Exchange) {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i] != ex {
			continue
		}
		if i == q.head {
			q.items[i] = nil
			q.head++
		} else {
			copy(q.items[i:], q.items[i+1:])
			q.items[len(q.items)-1] = nil
			q.items = q.items[:len(q.items)-1]
		}
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
		}
		return
	}
}
