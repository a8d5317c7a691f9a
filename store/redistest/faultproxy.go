package redistest

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// FaultProxy is a TCP proxy between a Redis client and a Server that can
// lose the replies of chosen commands: the command reaches Redis and runs,
// then the proxy closes the client's connection instead of passing the
// reply on. That is the fault go-redis answers by sending the command
// again (EOF is retryable), and the one a store must survive.
type FaultProxy struct {
	t      testing.TB
	target string
	ln     net.Listener

	mu      sync.Mutex
	armed   int      // replies still to lose
	pattern [][]byte // what a command must contain (lower case) to lose its reply
	onLoss  func()   // called after Redis answered a command whose reply is lost
	lost    int
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards every
// connection to target; it is closed when the test ends.
func StartProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{t: t, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is redis://host:port of the proxy.
func (p *FaultProxy) URL() string { return "redis://" + p.ln.Addr().String() }

// LoseReplies makes the proxy lose the replies of the next n commands
// whose bytes contain every one of patterns (compared in lower case; go-redis
// writes command names in lower case). A NOSCRIPT error reply is passed on
// and not counted: go-redis then sends the script itself, which counts.
// onLoss, when not nil, runs after Redis answered and before the client's
// connection is closed (to kill Redis at that very moment, say).
func (p *FaultProxy) LoseReplies(n int, onLoss func(), patterns ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.onLoss, p.pattern = n, onLoss, nil
	for _, s := range patterns {
		p.pattern = append(p.pattern, bytes.ToLower([]byte(s)))
	}
}

// Lost is how many replies the proxy has lost so far.
func (p *FaultProxy) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

// Close stops accepting and drops every connection.
func (p *FaultProxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c, s)
	}
}

// reserve takes one loss from the budget when cmd matches.
func (p *FaultProxy) reserve(cmd []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed <= 0 || len(p.pattern) == 0 {
		return false
	}
	lower := bytes.ToLower(cmd)
	for _, pat := range p.pattern {
		if !bytes.Contains(lower, pat) {
			return false
		}
	}
	p.armed--
	return true
}

// serve copies between client c and server s, one command and its reply
// at a time as a Redis client without pipelining sends them; pipelined
// bytes pass through unchanged.
func (p *FaultProxy) serve(c, s net.Conn) {
	defer p.wg.Done()
	defer func() {
		_ = c.Close()
		_ = s.Close()
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, s)
		p.mu.Unlock()
	}()
	lose := make(chan bool, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				lose <- p.reserve(buf[:n])
				if _, werr := s.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = s.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			losing := false
			select {
			case losing = <-lose:
			default:
			}
			if losing && bytes.HasPrefix(buf[:n], []byte("-NOSCRIPT")) {
				p.mu.Lock()
				p.armed++
				p.mu.Unlock()
				losing = false
			}
			if losing {
				p.mu.Lock()
				p.lost++
				onLoss := p.onLoss
				p.mu.Unlock()
				if onLoss != nil {
					onLoss()
				}
				_ = c.Close()
				<-done
				return
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = c.Close()
			<-done
			return
		}
	}
}
