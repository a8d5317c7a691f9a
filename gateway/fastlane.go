package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"authgate/gateway/fastpath"
	"authgate/gateway/proxy"
)

// fastHandler is the gateway's side of the fast path (package fastpath): the
// normalization, rules, token check and header rewrite of serve and
// proxyRequest, for the requests the event loops serve themselves. Whatever
// it declines is handed to the Fiber app, which decides it again and answers
// it the usual way (own routes, problems, https upstreams).
type fastHandler struct {
	g   *Gateway
	ups map[string]*fastpath.Upstream // by upstream name; absent: https
}

// fastState is what the gateway keeps about one exchange.
type fastState struct {
	g       *Gateway // the generation that decided it (reload.go)
	rq      request
	method  string // GET or HEAD
	outcome outcome
	ids     [4]proxy.Header
	// decided is the decision series of a forward-auth request the loop
	// answers itself (nil: none, or a proxied request: outcome).
	decided *lazyCounter
}

var fastStates = sync.Pool{New: func() any { return new(fastState) }}

func releaseFastState(st *fastState) {
	*st = fastState{}
	fastStates.Put(st)
}

// Route implements fastpath.Handler.
func (f *fastHandler) Route(ex *fastpath.Exchange) bool {
	st := fastStates.Get().(*fastState)
	if !f.route(ex, st) {
		releaseFastState(st)
		return false
	}
	ex.Ctx = st
	return true
}

// route decides ex into st and sets ex.Upstream, ex.Head and ex.ID; false
// hands the request to the Fiber app.
func (f *fastHandler) route(ex *fastpath.Exchange, st *fastState) bool {
	// One generation decides the whole exchange: the one current now.
	g := f.g.cur.Load()
	st.g = g
	rq := &st.rq
	*rq = request{start: ex.Start, route: "proxy", hdr: &ex.Header, peer: ex.Peer.Addr(), peerText: ex.PeerText}
	g.identify(rq)
	ex.PeerText = rq.peerText
	if g.admit(rq) != nil {
		return false // the Fiber app answers the same problem
	}
	path, query, err := g.target(rq)
	if err != nil {
		return false
	}
	if r, _ := g.routes.lookup(path); r != nil {
		if r.name == "verify" {
			rq.path, rq.query = path, query
			return f.verify(ex, st)
		}
		return false
	}
	if !ex.Header.IsGet() && !ex.Header.IsHead() {
		return false // proxied with a body or streamed by the Fiber app
	}
	rq.path, rq.query = path, query
	st.method = fasthttp.MethodGet
	if ex.Header.IsHead() {
		st.method = fasthttp.MethodHead
	}
	if g.refuseMethod(st.method) != nil {
		return false
	}
	d := g.rules.Match(st.method, rq.host, path)
	up := g.fastUps[d.Upstream]
	if up == nil {
		return false
	}
	claims, out, err := g.judge(rq, d)
	if err != nil {
		return false
	}
	st.outcome = out
	req := g.proxyHeaders(rq, claims, st.ids[:0])
	// AppendRequestHead also refuses field names that are not tokens, as
	// serve does (validFieldNames): the Fiber app answers those 400.
	if ex.Head, err = g.proxies[d.Upstream].AppendRequestHead(ex.Head[:0], rq.hdr, &req); err != nil {
		return false
	}
	ex.Upstream, ex.ID = up, rq.id
	return true
}

// verify answers a forward-auth request (any bodiless method: nginx's
// auth_request asks with the original request's) on the loop (ex.Answer)
// with the decision the Fiber app's verify makes (forwardAuth), or declines
// what the loop cannot answer exactly as the Fiber app would: a head whose
// field names the Fiber app refuses (serve answers 400 before any route),
// CONNECT, and a 5xx problem (the store catching up), which the Fiber app
// logs with its cause.
func (f *fastHandler) verify(ex *fastpath.Exchange, st *fastState) bool {
	g, rq := st.g, &st.rq
	if !validFieldNames(rq.hdr) || ex.Header.IsConnect() {
		return false // CONNECT: fasthttp reads its target apart; left to the Fiber app
	}
	rq.route = "verify"
	switch {
	case ex.Header.IsGet():
		st.method = fasthttp.MethodGet
	case ex.Header.IsHead():
		st.method = fasthttp.MethodHead
	default: // nginx asks with the original request's method
		st.method = string(ex.Header.Method())
	}
	resp := ex.Answer()
	resp.Header.Set("X-Request-Id", rq.id)
	decided, err := g.forwardAuth(rq, resp)
	if err != nil {
		p := asProblem(err)
		if p.Type.Status >= 500 {
			return false
		}
		uri := fasthttp.AcquireURI()
		_ = uri.Parse(ex.Header.Host(), ex.Header.RequestURI()) // as fasthttp.Request.URI()
		writeProblemTo(resp, p, string(uri.PathOriginal()))
		fasthttp.ReleaseURI(uri)
	}
	st.decided = decided
	return true
}

// Problem implements fastpath.Handler: the 502 or 504 document serve would
// have written, or 503 upstream-busy when too many requests already wait
// for a connection to the upstream (fastpath.ErrQueueFull).
func (f *fastHandler) Problem(ex *fastpath.Exchange, timedOut bool, err error, resp *fasthttp.Response) {
	p := &Problem{Type: ProblemUpstreamUnavailable, Detail: "the upstream cannot be reached", Err: err}
	level := slog.LevelError
	switch {
	case timedOut:
		p = &Problem{Type: ProblemUpstreamTimeout, Detail: "the upstream did not answer in time", Err: err}
	case errors.Is(err, fastpath.ErrQueueFull):
		p = &Problem{Type: ProblemUpstreamBusy, Detail: "every connection to the upstream is busy and too many requests are waiting; try again", RetryAfter: 1, Err: err}
		level = slog.LevelWarn // overload, not a failure: one line per refused request at most
	}
	uri := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(uri)
	_ = uri.Parse(nil, ex.Header.RequestURI())
	instance := string(uri.PathOriginal())
	f.g.log.Log(context.Background(), level, "request failed", "problem", p.Type.Slug, "err", err.Error(), "path", instance)
	resp.Header.Set("X-Request-Id", ex.ID)
	if p.RetryAfter > 0 {
		resp.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(p.RetryAfter))
	}
	resp.SetStatusCode(p.Type.Status)
	resp.Header.SetContentType("application/problem+json")
	resp.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	resp.SetBody(problemJSON(p, instance))
}

// Done implements fastpath.Handler: the decision metric, the request metric
// and the log line, as finish writes them.
func (f *fastHandler) Done(ex *fastpath.Exchange) {
	st := ex.Ctx.(*fastState)
	defer releaseFastState(st)
	if ex.HandedOver {
		return // the Fiber app counts and logs it
	}
	g := st.g
	switch {
	case st.rq.route == "proxy":
		st.outcome.counter(g.metrics).Inc()
	case st.decided != nil:
		st.decided.Inc()
	}
	d := time.Since(st.rq.start)
	g.metrics.observe(st.rq.route, ex.Status, d)
	ctx := context.Background()
	if g.log.Enabled(ctx, slog.LevelInfo) {
		g.logRequest(ctx, &st.rq, st.method, st.rq.path, ex.Status, d)
	}
}

// newFastHandler returns the gateway's fast-path handler and the upstreams
// it routes to (the plain-HTTP ones).
func (g *Gateway) newFastHandler() (*fastHandler, []*fastpath.Upstream, error) {
	h := &fastHandler{g: g, ups: make(map[string]*fastpath.Upstream, len(g.proxies))}
	var ups []*fastpath.Upstream
	for name, p := range g.proxies {
		up, err := fastpath.NewUpstream(p, g.cfg.Upstreams.DialTimeout, g.cfg.Upstreams.MaxConnsPerHost)
		if err != nil {
			return nil, nil, err
		}
		if up != nil {
			h.ups[name] = up
			ups = append(ups, up)
		}
	}
	g.fastUps = h.ups
	return h, ups, nil
}

// fastPath returns the event-loop front end for ln, or nil when it is
// switched off (server.fast_path), ln is not a plain TCP listener (TLS), or
// the platform has no epoll.
func (g *Gateway) fastPath(ln net.Listener) (*fastpath.Server, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok || g.cfg.Server.FastPath == nil || !*g.cfg.Server.FastPath {
		return nil, nil
	}
	if g.tr != nil {
		// Traced requests are served by the Fiber app, which makes their
		// spans (docs/tracing.md): the loops are not started at all, so
		// that no request pays for a handover.
		g.log.Info("tracing is on: the fast path is off, the Fiber app serves every request")
		return nil, nil
	}
	h, ups, err := g.newFastHandler()
	if err != nil {
		return nil, err
	}
	s, err := fastpath.New(fastpath.Options{
		Listener:     tl,
		Handler:      h,
		Upstreams:    ups,
		IdleTimeout:  g.cfg.Server.IdleTimeout,
		WriteTimeout: g.cfg.Server.WriteTimeout,
		Logger:       g.log,
	})
	if errors.Is(err, fastpath.ErrUnsupported) {
		return nil, nil
	}
	return s, err
}
