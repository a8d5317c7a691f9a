package fastpath

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"

	"authgate/gateway/proxy"
)

// baseProcs is GOMAXPROCS as the program started: the default number of
// loops, and the Ps the rest of the program keeps.
var baseProcs = runtime.GOMAXPROCS(0)

// procs counts the loops running in the process.
var procs struct {
	sync.Mutex
	loops int
}

// addLoops records n more (or fewer) running loops and sets GOMAXPROCS to
// baseProcs plus the loops: each loop keeps its P while it waits (see poll),
// so the rest of the program keeps as many Ps as it started with.
func addLoops(n int) {
	procs.Lock()
	defer procs.Unlock()
	procs.loops += n
	runtime.GOMAXPROCS(baseProcs + procs.loops)
}

// maxLoops bounds the loops however many CPUs there are: each holds a P.
const maxLoops = 64

// Server runs the loops. Create it with New, serve the Fiber app on Handoff,
// then call Serve; Shutdown stops it.
type Server struct {
	o       Options
	lfd     int
	loops   []*loop
	handoff *handoffListener
	relays  sync.WaitGroup
	closing atomic.Bool
	force   atomic.Bool
	stopped chan struct{}

	mu       sync.Mutex
	relaying map[net.Conn]struct{}

	served, relayed, handedOver atomic.Uint64
}

// Waiting returns how many requests wait for an upstream connection now.
func (s *Server) Waiting() int {
	n := 0
	for _, up := range s.o.Upstreams {
		n += int(up.waiting.Load())
	}
	return n
}

// Counts returns how many requests the loops answered themselves, how many
// responses a relay goroutine streamed, and how many connections went to the
// Fiber app.
func (s *Server) Counts() (served, relayed, handedOver uint64) {
	return s.served.Load(), s.relayed.Load(), s.handedOver.Load()
}

// New prepares a server on o.Listener.
func New(o Options) (*Server, error) {
	if o.Listener == nil || o.Handler == nil {
		return nil, errors.New("fast path: listener and handler are required")
	}
	if o.Loops <= 0 {
		o.Loops = baseProcs
	}
	for i, u := range o.Upstreams {
		u.index = i
	}
	if o.Loops > maxLoops {
		o.Loops = maxLoops
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	raw, err := o.Listener.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("fast path: %w", err)
	}
	lfd := -1
	var derr error
	if err := raw.Control(func(fd uintptr) {
		lfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || derr != nil {
		return nil, fmt.Errorf("fast path: dup listener: %w", errors.Join(err, derr))
	}
	if err := unix.SetNonblock(lfd, true); err != nil {
		_ = unix.Close(lfd)
		return nil, fmt.Errorf("fast path: %w", err)
	}
	s := &Server{o: o, lfd: lfd, handoff: newHandoff(o.Listener.Addr()), stopped: make(chan struct{})}
	for i := 0; i < o.Loops; i++ {
		l, err := newLoop(s)
		if err != nil {
			s.closeLoops()
			_ = unix.Close(lfd)
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	return s, nil
}

// Handoff is the listener the Fiber app must serve: it yields the
// connections the loops hand over.
func (s *Server) Handoff() net.Listener { return s.handoff }

// Serve runs the loops until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve() error {
	ctx, cancel := context.WithCancel(context.Background())
	addLoops(len(s.loops))
	defer addLoops(-len(s.loops))
	for _, u := range s.o.Upstreams {
		go u.addrs.keepFresh(ctx, 30*time.Second, s.o.Logger)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(s.loops))
	for i, l := range s.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.run()
		}()
	}
	wg.Wait()
	for _, l := range s.loops {
		l.adopt() // closes connections accepted for a loop that had already stopped
	}
	cancel()
	s.relays.Wait()
	_ = unix.Close(s.lfd)
	s.closeLoops()
	close(s.stopped)
	return errors.Join(errs...)
}

// Shutdown stops accepting, lets the requests in flight finish (their
// responses say Connection: close, and their connections are closed after
// them), serves a request already waiting on an idle connection the same
// way, closes the other idle connections and waits
// until all is done or ctx ends; then it closes what is left. The handoff
// listener is closed by the Fiber app's own shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	// Stop listening at once: shutdown(2) on a listening socket (all its
	// descriptors, the Fiber app's too) makes the kernel refuse new
	// connections instead of completing them into a backlog that nobody
	// accepts any more and that is reset when the socket is closed, after
	// the drain. Removing it from the loops' epoll sets alone did that.
	_ = unix.Shutdown(s.lfd, unix.SHUT_RD)
	s.wake()
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
	}
	s.force.Store(true)
	s.wake()
	s.closeRelays()
	<-s.stopped
	return ctx.Err()
}

func (s *Server) wake() {
	var one = [8]byte{1}
	for _, l := range s.loops {
		_, _ = unix.Write(l.efd, one[:])
	}
}

func (s *Server) closeLoops() {
	for _, l := range s.loops {
		_ = unix.Close(l.ep)
		_ = unix.Close(l.efd)
	}
}

// relayExchange streams the response of ex (proxy.Relay), answers 502 if the
// upstream's response could not even be read, and then gives the client
// connection to the Fiber app, or closes it after a failure to write to it
// or a response cut short.
func (s *Server) relayExchange(ex *Exchange, client, upstream net.Conn, prefix []byte) {
	defer s.relays.Done()
	s.track(client, upstream)
	status, err := ex.Upstream.proxy.Relay(client, upstream, prefix, ex.head, ex.ID, s.o.WriteTimeout)
	_ = upstream.Close()
	ex.Upstream.open.Add(-1)
	keep := err == nil
	if errors.Is(err, proxy.ErrUpstreamUnavailable) {
		// Nothing was written to the client: its 502 is a whole
		// response, after which the connection serves on.
		keep = true
		resp := fasthttp.AcquireResponse()
		s.o.Handler.Problem(ex, false, err, resp)
		resp.SkipBody = ex.head
		_ = client.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
		bw := bufio.NewWriter(client)
		status = resp.StatusCode()
		if werr := resp.Write(bw); werr != nil {
			err, keep = errors.Join(err, werr), false
		} else if werr := bw.Flush(); werr != nil {
			err, keep = errors.Join(err, werr), false
		}
		fasthttp.ReleaseResponse(resp)
	}
	ex.Status, ex.Err = status, err
	s.o.Handler.Done(ex)
	keep = keep && !s.closing.Load()
	putExchange(ex)
	s.untrack(client, upstream)
	if keep {
		_ = client.SetWriteDeadline(time.Time{})
		s.handoff.push(client, nil)
		return
	}
	_ = client.Close()
}

// track keeps the connections of running relays, so that a forced shutdown
// can close them.
func (s *Server) track(conns ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.relaying == nil {
		s.relaying = make(map[net.Conn]struct{})
	}
	for _, c := range conns {
		s.relaying[c] = struct{}{}
	}
	if s.force.Load() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
}

func (s *Server) untrack(conns ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range conns {
		delete(s.relaying, c)
	}
}

func (s *Server) closeRelays() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.relaying {
		_ = c.Close()
	}
}

// fdConn turns fd into a net.Conn on Go's poller; fd itself is closed.
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(f)
	_ = f.Close()
	return c, err
}
