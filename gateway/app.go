package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"

	"authgate/audit"
	"authgate/gateway/proxy"
	"authgate/gateway/reqhead"
	"authgate/gateway/rules"
)

// handler is one of the gateway's own routes.
type handler func(c *fiber.Ctx, rq *request) error

// route is the methods served on one path of the gateway's own.
type route struct {
	name    string // metrics label
	methods map[string]handler
	allow   string // Allow header for 405
	// anyMethod serves every method (forward-auth).
	anyMethod handler
}

// routeTable maps normalized paths to own routes; prefix routes (admin user
// management) take the rest of the path as an ID.
type routeTable struct {
	exact  map[string]*route
	prefix string // e.g. "/auth/users/"
	byID   *route
	// pages serves every path under pagesPrefix (browser.path + "/").
	pagesPrefix string
	pages       *route
	// segments are routes of the form <prefix><id><suffix>, id one
	// non-empty path segment (a passkey, a user's second factors).
	segments []segmentRoute
}

type segmentRoute struct {
	prefix, suffix string
	r              *route
}

// addSegment adds the route prefix + {id} + suffix.
func (t *routeTable) addSegment(prefix, suffix, name string, h map[string]handler) {
	t.segments = append(t.segments, segmentRoute{prefix: prefix, suffix: suffix, r: newRoute(name, h)})
}

func (t *routeTable) add(path, name string, h map[string]handler) {
	t.exact[path] = newRoute(name, h)
}

func newRoute(name string, h map[string]handler) *route {
	r := &route{name: name, methods: h}
	var ms []string
	for m := range h {
		ms = append(ms, m)
	}
	r.allow = strings.Join(sortedMethods(ms), ", ")
	return r
}

func sortedMethods(ms []string) []string {
	order := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	var out []string
	for _, o := range order {
		for _, m := range ms {
			if m == o {
				out = append(out, m)
			}
		}
	}
	return out
}

// lookup finds the own route for a normalized path and the ID suffix.
func (t *routeTable) lookup(path string) (*route, string) {
	if r, ok := t.exact[path]; ok {
		return r, ""
	}
	if t.pages != nil && strings.HasPrefix(path, t.pagesPrefix) {
		return t.pages, path[len(t.pagesPrefix):]
	}
	if t.byID != nil && strings.HasPrefix(path, t.prefix) {
		id := path[len(t.prefix):]
		if id != "" && !strings.Contains(id, "/") {
			return t.byID, id
		}
	}
	for _, s := range t.segments {
		if strings.HasPrefix(path, s.prefix) && strings.HasSuffix(path[len(s.prefix):], s.suffix) {
			id := path[len(s.prefix) : len(path)-len(s.suffix)]
			if id != "" && !strings.Contains(id, "/") {
				return s.r, id
			}
		}
	}
	return nil, ""
}

// request is what the gateway knows about the request being answered.
type request struct {
	id          string
	path        string // normalized
	host        string // the Host, normalized (reqhead.Host); may share hdr's buffer
	query       string
	route       string // metrics label
	clientIP    string
	peerTrusted bool
	user        string // sub, for the log line
	start       time.Time
	hdr         *fasthttp.RequestHeader // the client's request head
	peer        netip.Addr              // the connection's remote address
	peerText    string                  // peer.String(), kept per connection by the fast path
	tls         bool                    // the client connection is TLS
	// own: an own route (not forward-auth) is serving the request, where
	// tokens of trusted external issuers are not accepted.
	own bool
	// trace is the context of the request's current span; nil when
	// tracing is off (trace.go).
	trace context.Context
}

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newRequestID is unique per instance start and cheap on the hot path: one
// allocation, the string itself.
func newRequestID() string {
	var b [40]byte
	id := append(b[:0], idPrefix...)
	id = append(id, '-')
	return string(strconv.AppendUint(id, idCounter.Add(1), 36))
}

func (g *Gateway) newApp() *fiber.App {
	s := g.cfg.Server
	app := fiber.New(fiber.Config{
		AppName:               "authgate",
		DisableStartupMessage: true,
		// Request bodies are streamed so that proxied uploads never sit in
		// memory; own routes read at most server.body_limit (readBody).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    s.BodyLimit,
		ReadTimeout:                  s.ReadTimeout,
		WriteTimeout:                 s.WriteTimeout,
		IdleTimeout:                  s.IdleTimeout,
		ReadBufferSize:               16 << 10,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return writeProblem(c, g.logProblem(c, asProblem(err)))
		},
	})
	// Each request is served whole by the generation current when it
	// starts (reload.go).
	app.Use(func(c *fiber.Ctx) error { return g.cur.Load().serve(c) })
	g.serveAnyMethod(app)
	app.Server().ExpectHandler = g.expectHandler(app)
	// fasthttp reads min(Content-Length, BodyLimit, 8 KiB) of a streamed
	// body before the handler runs; with a declared length over the limit
	// that could wait for bytes that never come. Read one byte instead, so
	// that an own route answers 413 at once (readBody checks the declared
	// length) and a proxied upload starts streaming as soon as it starts.
	limit := s.BodyLimit
	app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if h.ContentLength() > limit {
			return fasthttp.RequestConfig{MaxRequestBodySize: 1}
		}
		return fasthttp.RequestConfig{}
	}
	return app
}

// expectHandler decides a request that sent "Expect: 100-continue" before
// fasthttp answers 100 Continue and reads the body: one that would be
// refused (400, 401, 403, 405, 413 by its declared Content-Length on an own
// route) is answered at once with its problem document, and its body is
// never read (fasthttp then closes the connection, since the client may be
// sending the body already). Requests it lets continue are decided again,
// with the body, by serve.
func (g *Gateway) expectHandler(app *fiber.App) func(*fasthttp.RequestCtx) int {
	return func(fctx *fasthttp.RequestCtx) int {
		c := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(c)
		rq := request{start: time.Now(), route: "proxy", hdr: &fctx.Request.Header, tls: fctx.IsTLS(), peer: peerAddr(fctx.RemoteIP())}
		g.identify(&rq)
		err := g.beforeBody(c, &rq)
		if err == nil {
			return fasthttp.StatusContinue // serve decides it again, and traces it
		}
		if g.tr != nil {
			// Refused here, never served: its trace is this span and its
			// log line.
			defer g.endTrace(c, &rq, g.startTrace(c, &rq))
		}
		c.Set("X-Request-Id", rq.id)
		p := g.logProblem(c, asProblem(err))
		_ = writeProblem(c, p)
		g.finish(c, &rq)
		return p.Type.Status
	}
}

// beforeBody is what serve decides before it reads a body: the head, the
// target, an own route's body limit, and for a proxied request the method,
// the rule, the body policy and the token.
func (g *Gateway) beforeBody(c *fiber.Ctx, rq *request) error {
	err := g.admit(rq)
	var path, query string
	if err == nil {
		path, query, err = g.target(rq)
	}
	if err == nil && !validFieldNames(rq.hdr) {
		err = problem(ProblemBadRequest, "a header field name is not a token (RFC 9110, section 5.1)")
	}
	if err != nil {
		rq.route = "invalid"
		return err
	}
	rq.path, rq.query = path, query
	if r, _ := g.routes.lookup(path); r != nil {
		rq.route = r.name
		if r.anyMethod == nil && rq.hdr.ContentLength() > g.cfg.Server.BodyLimit {
			return problem(ProblemTooLarge, fmt.Sprintf("request body larger than %d bytes", g.cfg.Server.BodyLimit))
		}
		return nil // the route decides when it reads the body
	}
	method := c.Method()
	if err := g.refuseMethod(method); err != nil {
		return err
	}
	d := g.rules.Match(method, rq.host, rq.path)
	if err := refuseBody(rq.hdr, d); err != nil {
		return err
	}
	if _, out, err := g.judge(rq, d); err != nil {
		out.counter(g.metrics).Inc()
		return err
	}
	return nil
}

// serveAnyMethod lets the app serve every method. Fiber routes only the
// methods of its config (RequestMethods) and answers any other with a
// plain-text 400 "Invalid http method", so WebDAV's PROPFIND or MKCOL could
// not be proxied. The gateway has a single handler (serve), which needs no
// route: a method Fiber does not know is given to serve directly, which
// checks that it is a token (admit) and lets the rules decide it.
func (g *Gateway) serveAnyMethod(app *fiber.App) {
	srv := app.Server()
	routed := srv.Handler
	known := make(map[string]bool, len(fiber.DefaultMethods))
	for _, m := range fiber.DefaultMethods {
		known[m] = true
	}
	srv.Handler = func(fctx *fasthttp.RequestCtx) {
		if known[string(fctx.Method())] { // no allocation: map lookup of a converted []byte
			routed(fctx)
			return
		}
		c := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(c)
		if err := g.serve(c); err != nil {
			_ = app.ErrorHandler(c, err)
		}
	}
}

func (g *Gateway) newAdminApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "authgate-admin",
		DisableStartupMessage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return writeProblem(c, asProblem(err))
		},
	})
	app.Get(g.cfg.Routes.Metrics, g.metricsHandler())
	app.Get(g.cfg.Routes.Healthz, func(c *fiber.Ctx) error { return g.healthz(c, nil) })
	app.Get(g.cfg.Routes.Readyz, func(c *fiber.Ctx) error { return g.readyz(c, nil) })
	return app
}

func (g *Gateway) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(g.metrics.registry, promhttp.HandlerOpts{}))
}

// serve is the single entry point: every request is normalized once, then
// answered by an own route or decided by the rules and proxied.
func (g *Gateway) serve(c *fiber.Ctx) (err error) {
	fctx := c.Context()
	rq := request{start: time.Now(), route: "proxy", hdr: &fctx.Request.Header, tls: fctx.IsTLS(), peer: peerAddr(fctx.RemoteIP())}
	g.identify(&rq)
	c.Set("X-Request-Id", rq.id)
	if g.tr != nil {
		// Deferred before the answer is written below, so it ends after:
		// the span gets the final status.
		defer g.endTrace(c, &rq, g.startTrace(c, &rq))
	}
	defer func() {
		if r := recover(); r != nil {
			err = &Problem{Type: ProblemInternal, Detail: "internal error", Err: fmt.Errorf("panic: %v", r)}
		}
		if err != nil {
			p := asProblem(err)
			if rq.route == "proxy" && g.signInRedirect(c.Response(), c.Method(), rq.hdr, p, returnTarget(&rq)) {
				err = nil
			} else {
				g.logProblem(c, p)
				err = writeProblem(c, p)
			}
		}
		if g.draining.Load() {
			// Shutting down: this connection ends after this answer, and
			// the client must not send another request on it.
			fctx.SetConnectionClose()
		}
		g.finish(c, &rq)
	}()
	perr := g.admit(&rq)
	var path, query string
	if perr == nil {
		path, query, perr = g.target(&rq)
	}
	if perr == nil && !validFieldNames(rq.hdr) {
		perr = problem(ProblemBadRequest, "a header field name is not a token (RFC 9110, section 5.1)")
	}
	if perr != nil {
		rq.route = "invalid"
		return perr
	}
	rq.path, rq.query = path, query
	if g.cfg.Transport.Cookies.Enabled {
		g.autoRefresh(c, &rq)
	}
	if r, id := g.routes.lookup(path); r != nil {
		rq.route = r.name
		return g.serveOwnCopy(c, &rq, r, id)
	}
	return g.proxyRequest(c, &rq)
}

// serveOwnCopy runs an own route on a copy of rq that is copied back when it
// returns or panics. Own handlers are called through func values, so the
// request they get escapes to the heap; the copy keeps serve's rq, and so
// every proxied request, off it.
func (g *Gateway) serveOwnCopy(c *fiber.Ctx, rq *request, r *route, id string) error {
	own := new(request)
	*own = *rq
	defer func() { *rq = *own }()
	return g.serveOwn(c, own, r, id)
}

// validFieldNames reports whether every field name of h is a token: no
// spaces, no separators. Such a name is refused rather than passed to an
// upstream that might read it another way.
func validFieldNames(h *fasthttp.RequestHeader) bool {
	for k := range h.All() {
		if !proxy.ValidFieldName(k) {
			return false
		}
	}
	return true
}

// identify sets the request ID, whether the peer is a trusted proxy and the
// client's address.
func (g *Gateway) identify(rq *request) {
	rq.peerTrusted = g.trusted.contains(rq.peer)
	rq.id = g.requestID(rq)
	if rq.peerText == "" {
		rq.peerText = rq.peer.String()
	}
	if rq.peerTrusted {
		rq.clientIP = g.trusted.clientIP(rq.peer, xffValue(rq.hdr)).String()
	} else {
		rq.clientIP = rq.peerText // anybody else's X-Forwarded-For is not read
	}
}

// admit checks what both paths decide about the head before the target and
// the rules (package reqhead): the method is a token, the Host is valid
// (rq.host is its normalized form), and the framing is one that both read
// alike. The fast path calls it too and hands over what it refuses, so that
// the Fiber app refuses it with the same problem.
func (g *Gateway) admit(rq *request) error {
	if !reqhead.ValidMethod(rq.hdr.Method()) {
		return problem(ProblemInvalidMethod, "the method is not an RFC 9110 token")
	}
	host, err := reqhead.Host(rq.hdr.Host())
	if err != nil {
		return &Problem{Type: ProblemInvalidHost, Detail: "Host: " + strings.ReplaceAll(err.Error(), "\n", ": "), Err: err}
	}
	rq.host = host
	if err := reqhead.Framing(rq.hdr); err != nil {
		return &Problem{Type: ProblemBadRequest, Detail: err.Error(), Err: err}
	}
	return nil
}

// target normalizes the raw request target (SPEC section 4). An
// absolute-form target must name the Host (compared normalized, rq.host).
func (g *Gateway) target(rq *request) (string, string, error) {
	raw := rq.hdr.RequestURI()
	if len(raw) > 0 && raw[0] != '/' {
		host, rest, ok := rules.SplitAbsolute(raw)
		if !ok {
			return "", "", problem(ProblemInvalidPath, "request target must be a path")
		}
		if norm, err := reqhead.Host([]byte(host)); err != nil || norm != rq.host {
			return "", "", problem(ProblemInvalidPath, "absolute-form target names another host than Host")
		}
		raw = rest
	}
	path, query, err := rules.Normalize(raw)
	if err != nil {
		return "", "", &Problem{Type: ProblemInvalidPath, Detail: err.Error(), Err: err}
	}
	return path, query, nil
}

func (g *Gateway) serveOwn(c *fiber.Ctx, rq *request, r *route, id string) error {
	if g.audited {
		c.SetUserContext(audit.WithRequest(c.UserContext(), audit.Request{
			ClientIP: rq.clientIP, UserAgent: string(rq.hdr.UserAgent()), RequestID: rq.id,
		}))
	}
	rq.own = r.name != "verify"
	if r.anyMethod != nil {
		if id != "" {
			c.Locals(localID, id)
		}
		return r.anyMethod(c, rq)
	}
	if g.ownCrossSite(rq, r) {
		return csrfRefused()
	}
	h, ok := r.methods[c.Method()]
	if !ok && c.Method() == fiber.MethodHead {
		h, ok = r.methods[fiber.MethodGet]
	}
	if !ok {
		c.Set(fiber.HeaderAllow, r.allow)
		return problem(ProblemMethodNotAllowed, c.Method()+" is not allowed here; use "+r.allow)
	}
	if id != "" {
		c.Locals(localID, id)
	}
	return h(c, rq)
}

type localKey int

const localID localKey = 0

// requestID keeps a trusted proxy's X-Request-Id, else makes one.
func (g *Gateway) requestID(rq *request) string {
	if v := rq.hdr.Peek("X-Request-Id"); len(v) > 0 && len(v) <= 128 && rq.peerTrusted {
		return string(v)
	}
	return newRequestID()
}

// xffValue joins every X-Forwarded-For header the client sent. With one
// such header (a proxy's usual request) the string shares h's buffer, as
// bearer's does: use it while the request is answered only. That saves an
// allocation on every request from a trusted proxy (forward-auth asks).
func xffValue(h *fasthttp.RequestHeader) string {
	var out string
	for k, v := range h.All() {
		if strings.EqualFold(utils.UnsafeString(k), fiber.HeaderXForwardedFor) {
			if out == "" {
				out = utils.UnsafeString(v)
			} else {
				out = out + "," + string(v)
			}
		}
	}
	return out
}

// finish writes the request's log line and metrics.
func (g *Gateway) finish(c *fiber.Ctx, rq *request) {
	d := time.Since(rq.start)
	status := c.Response().StatusCode()
	g.metrics.observe(rq.route, status, d)
	if g.log.Enabled(c.UserContext(), slog.LevelInfo) {
		g.logRequest(c.UserContext(), rq, c.Method(), pathForLog(rq, c), status, d)
	}
}

// logRequest writes the one log line of a request.
func (g *Gateway) logRequest(ctx context.Context, rq *request, method, path string, status int, d time.Duration) {
	g.log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("id", rq.id),
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("ip", rq.clientIP),
		slog.String("user", rq.user),
		slog.String("route", rq.route),
	)
}

// pathForLog logs the normalized path (never the query: it may hold
// tokens of upstream apps), or the raw one, truncated, when it was refused.
func pathForLog(rq *request, c *fiber.Ctx) string {
	if rq.path != "" {
		return rq.path
	}
	p := string(c.Request().URI().PathOriginal())
	if len(p) > 256 {
		p = p[:256] + "…"
	}
	return p
}

// logProblem logs server-side problems with their cause.
func (g *Gateway) logProblem(c *fiber.Ctx, p *Problem) *Problem {
	if p.Type == ProblemOverloaded {
		// Overload is not a failure of anything: a warning, counted.
		g.metrics.overloaded.Inc()
		g.log.WarnContext(c.UserContext(), "password hashing at capacity: request refused", "problem", p.Type.Slug, "path", string(c.Request().URI().PathOriginal()))
		return p
	}
	if p.Type.Status >= 500 && p.Err != nil {
		g.log.ErrorContext(c.UserContext(), "request failed", "problem", p.Type.Slug, "err", p.Err.Error(), "path", string(c.Request().URI().PathOriginal()))
	}
	return p
}
