package gateway

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"authgate/auth"
	"authgate/gateway/proxy"
	"authgate/gateway/reqhead"
	"authgate/gateway/rules"
)

// proxyRequest decides a request by the rules and forwards it.
func (g *Gateway) proxyRequest(c *fiber.Ctx, rq *request) error {
	method := c.Method()
	if err := g.refuseMethod(method); err != nil {
		return err
	}
	d := g.rules.Match(method, rq.host, rq.path)
	if err := refuseBody(rq.hdr, d); err != nil {
		return err
	}
	claims, err := g.decide(rq, d)
	if err != nil {
		return err
	}
	if claims != nil && g.proxyCrossSite(rq, d, rq.host) {
		if d.Policy == rules.PolicyPublic {
			claims = nil // served as to anybody, without the identity
		} else {
			return csrfRefused()
		}
	}
	px := g.proxies[d.Upstream]
	req := g.proxyHeaders(rq, claims, nil)
	var span trace.Span
	if rq.trace != nil {
		span, req.TraceParent, req.TraceState = g.tr.Upstream(rq.trace, d.Upstream)
	}
	err = px.Forward(c, &req)
	if span != nil {
		endUpstream(c, span, err)
	}
	switch {
	case errors.Is(err, proxy.ErrUpstreamTimeout):
		return &Problem{Type: ProblemUpstreamTimeout, Detail: "the upstream did not answer in time", Err: err}
	case errors.Is(err, proxy.ErrUpstreamUnavailable):
		return &Problem{Type: ProblemUpstreamUnavailable, Detail: "the upstream cannot be reached", Err: err}
	case errors.Is(err, proxy.ErrClientBody):
		// A malformed chunked body, a forbidden trailer, or a client that
		// stopped sending: the client's fault, never a 500.
		return &Problem{Type: ProblemBadRequest, Detail: "the request body could not be read (malformed chunked encoding or trailer, or cut short)", Err: err}
	}
	return err
}

// refuseMethod answers 405 to the methods of requests.refuse_methods.
func (g *Gateway) refuseMethod(method string) error {
	for _, m := range g.refused {
		if m == method {
			return problem(ProblemMethodNotAllowed, method+" is refused by this gateway (requests.refuse_methods)")
		}
	}
	return nil
}

// refuseBody refuses a body on GET, HEAD, OPTIONS, DELETE and TRACE unless
// the rule allows it (allow_body): an upstream that ignores such a body
// would read it as the next request on its connection.
func refuseBody(h *fasthttp.RequestHeader, d rules.Decision) error {
	if d.AllowBody || !reqhead.BodylessMethod(h.Method()) || !reqhead.HasBody(h) {
		return nil
	}
	return problem(ProblemBodyNotAllowed, string(h.Method())+" requests carry no body here (the rule's allow_body is off)")
}

// proxyHeaders is what the gateway adds to the upstream request: the
// authorized path and query, the identity headers of claims (nil: none),
// appended to ids, the names to strip and the X-Forwarded-* values. The
// strings may share the request's header buffer: use the result while the
// request is being answered only.
func (g *Gateway) proxyHeaders(rq *request, claims *auth.Claims, ids []proxy.Header) proxy.Request {
	req := proxy.Request{
		Path:              rq.path,
		RawQuery:          rq.query,
		StripNames:        g.stripNames,
		KeepAuthorization: g.cfg.IdentityHeaders.ForwardToken,
		ForwardedFor:      g.forwardedFor(rq),
		ForwardedProto:    g.forwardedProto(rq),
		ForwardedHost:     g.forwardedHost(rq),
		RequestID:         rq.id,
	}
	if g.cfg.Transport.Cookies.Enabled {
		jar := g.jar(rq.hdr)
		if !g.cfg.IdentityHeaders.ForwardToken {
			req.AccessCookie = jar.access
		}
		req.RefreshCookie = jar.refresh
	}
	if claims != nil {
		req.Identity = g.identity(claims, ids)
	}
	return req
}

// identity appends the identity headers for claims to out.
func (g *Gateway) identity(cl *auth.Claims, out []proxy.Header) []proxy.Header {
	n := &g.idNames
	if out == nil {
		out = make([]proxy.Header, 0, 4)
	}
	out = append(out, proxy.Header{Name: n[0], Value: cl.Subject})
	out = append(out, proxy.Header{Name: n[1], Value: cl.Name})
	if cl.Email != "" {
		out = append(out, proxy.Header{Name: n[2], Value: cl.Email})
	}
	out = append(out, proxy.Header{Name: n[3], Value: cl.RolesList()})
	return out
}

// forwardedFor appends the peer to a trusted proxy's X-Forwarded-For and
// replaces anybody else's.
func (g *Gateway) forwardedFor(rq *request) string {
	if !rq.peerTrusted && rq.clientIP != "" {
		return rq.clientIP // identify set it to the peer itself
	}
	peer := rq.peerText
	if rq.peerTrusted {
		if prior := xffValue(rq.hdr); prior != "" {
			return prior + ", " + peer
		}
	}
	return peer
}

func (g *Gateway) forwardedProto(rq *request) string {
	if rq.peerTrusted {
		if v := rq.hdr.Peek(fiber.HeaderXForwardedProto); len(v) > 0 {
			s := strings.ToLower(string(v))
			if s == "http" || s == "https" {
				return s
			}
		}
	}
	if rq.tls {
		return "https"
	}
	return "http"
}

func (g *Gateway) forwardedHost(rq *request) string {
	if rq.peerTrusted {
		if v := rq.hdr.Peek(fiber.HeaderXForwardedHost); len(v) > 0 {
			return string(v)
		}
	}
	return rq.host // normalized, as the rules saw it; see proxyHeaders
}

// verify is the forward-auth endpoint in the Fiber app: forwardAuth decides
// it, into the response, and the decision is counted.
func (g *Gateway) verify(c *fiber.Ctx, rq *request) error {
	decided, err := g.forwardAuth(rq, c.Response())
	if decided != nil {
		decided.Inc()
	}
	return err
}

// forwardAuth decides a forward-auth request: nginx auth_request, Traefik
// forwardAuth and Caddy forward_auth ask whether the original request may
// pass. The original method and URI are believed only from trusted
// proxies. It is the one decision of both paths: the Fiber app's verify
// and the fast path's loops (fastHandler.verify) call it, so that they
// answer alike. It writes an answer into resp, which already holds
// X-Request-Id (200 with Cache-Control: no-store and the identity headers,
// or 302 to the sign-in page), or returns the problem to answer. decided
// is the authgate_decisions_total series of the decision (nil: none was
// made), for the caller to count once it answers.
//
// nginx's auth_request accepts only 2xx, 401 and 403 and turns any other
// answer into a 500 for the client: asked in nginx's form (X-Original-URI),
// a request refused as the client's mistake (400, 405, 413, ...: any 4xx
// but 401 and 403) is answered 403, keeping its problem type. nginx then
// refuses it with 403 instead of 500, and examples/nginx.conf's @signin
// location, which asks again in the Traefik/Caddy form, passes the real
// 400 and its problem document to the client. Traefik and Caddy pass any
// answer on as it is.
func (g *Gateway) forwardAuth(rq *request, resp *fasthttp.Response) (decided *lazyCounter, err error) {
	decided, err = g.verifyOriginal(rq, resp)
	h := rq.hdr
	if err == nil || forwardedFamily(h) || len(h.Peek("X-Original-URI")) == 0 {
		return decided, err
	}
	p := asProblem(err)
	if st := p.Type.Status; st < 400 || st >= 500 || st == fiber.StatusUnauthorized || st == fiber.StatusForbidden {
		return decided, err
	}
	refused := *p
	refused.Type.Status = fiber.StatusForbidden
	refused.Detail += " (answered 403: nginx auth_request turns a " + strconv.Itoa(p.Type.Status) + " into 500)"
	return decided, &refused
}

func (g *Gateway) verifyOriginal(rq *request, resp *fasthttp.Response) (*lazyCounter, error) {
	if !rq.peerTrusted {
		return &g.metrics.decided.untrustedPeer, problem(ProblemDenied, "forward-auth headers are only believed from trusted_proxies; "+
			rq.peer.String()+" is not one")
	}
	h := rq.hdr
	method, uri, err := originalRequest(h)
	if err != nil {
		return nil, err
	}
	host := rq.host
	if v := h.Peek(fiber.HeaderXForwardedHost); len(v) > 0 {
		if host, err = reqhead.Host(v); err != nil {
			return nil, &Problem{Type: ProblemInvalidHost, Detail: "X-Forwarded-Host: " + err.Error(), Err: err}
		}
	}
	if uri[0] != '/' {
		uhost, rest, ok := rules.SplitAbsolute(uri)
		if ok {
			uhost, err = reqhead.Host([]byte(uhost))
		}
		if !ok || err != nil || uhost != host {
			return nil, problem(ProblemInvalidPath, "the original URI must be a path on the forwarded host")
		}
		uri = rest
	}
	path, _, err := rules.Normalize(uri)
	if err != nil {
		return nil, &Problem{Type: ProblemInvalidPath, Detail: err.Error(), Err: err}
	}
	rq.path = path
	method = strings.ToUpper(method)
	d := g.rules.Match(method, host, path)
	claims, out, err := g.judge(rq, d)
	decided := out.counter(g.metrics)
	if err != nil {
		if p := asProblem(err); forwardedFamily(h) && g.signInRedirect(resp, method, h, p, string(uri)) {
			return decided, nil
		}
		return decided, err
	}
	if claims != nil && unsafeMethod([]byte(method)) && g.proxyCrossSite(rq, d, host) {
		if d.Policy == rules.PolicyPublic {
			claims = nil
		} else {
			return decided, csrfRefused()
		}
	}
	resp.Header.Set(fiber.HeaderCacheControl, "no-store")
	if claims != nil {
		var ids [4]proxy.Header
		for _, ih := range g.identity(claims, ids[:0]) {
			resp.Header.Set(ih.Name, ih.Value)
		}
	}
	resp.SetStatusCode(fiber.StatusOK)
	return decided, nil
}

// originalRequest reads the method and URI of the request a proxy asks about,
// from one header family: nginx's X-Original-Method/-URI or Traefik's and
// Caddy's X-Forwarded-Method/-Uri. Each proxy sets only its own family and
// passes the client's headers on, so a request carrying both families holds
// one the client wrote: it is refused rather than choosing one. The method
// is required too: defaulting it would judge every request as a GET and
// make method-restricted rules too permissive.
func originalRequest(h *fasthttp.RequestHeader) (method string, uri []byte, err error) {
	oURI, oMethod := h.Peek("X-Original-URI"), h.Peek("X-Original-Method")
	fURI, fMethod := h.Peek("X-Forwarded-Uri"), h.Peek("X-Forwarded-Method")
	original := len(oURI) > 0 || len(oMethod) > 0
	forwarded := len(fURI) > 0 || len(fMethod) > 0
	switch {
	case original && forwarded:
		return "", nil, problem(ProblemBadRequest, "send either X-Original-Method/-URI (nginx) or X-Forwarded-Method/-Uri (Traefik, Caddy), not both")
	case original:
		uri, method = oURI, string(oMethod)
	default:
		uri, method = fURI, string(fMethod)
	}
	if len(uri) == 0 {
		return "", nil, problem(ProblemBadRequest, "send the original request as X-Original-URI (nginx) or X-Forwarded-Uri (Traefik, Caddy)")
	}
	if method == "" {
		return "", nil, problem(ProblemBadRequest, "send the original method as X-Original-Method (nginx) or X-Forwarded-Method (Traefik, Caddy)")
	}
	return method, uri, nil
}

// forwardedFamily reports whether a forward-auth request came from Traefik
// or Caddy (X-Forwarded-Uri), which pass a 302 on to the client; nginx's
// auth_request (X-Original-URI) accepts only 2xx, 401 and 403, so nginx
// gets the 401 and its error_page sends the person to sign in.
func forwardedFamily(h *fasthttp.RequestHeader) bool {
	return len(h.Peek("X-Forwarded-Uri")) > 0
}

// proxyCrossSite reports whether a state-changing request authenticated by
// the session cookie comes from another site, where the rule keeps the
// CSRF check (rules[].csrf) and transport.cookies.csrf is on.
func (g *Gateway) proxyCrossSite(rq *request, d rules.Decision, host string) bool {
	if !g.csrfOn() || !g.cookieAuthenticated(rq.hdr) {
		return false
	}
	if rq.route == "verify" {
		// the original method was checked by the caller
	} else if !unsafeMethod(rq.hdr.Method()) {
		return false
	}
	if d.Rule >= 0 && d.Rule < len(g.cfg.Rules) {
		if c := g.cfg.Rules[d.Rule].CSRF; c != nil && !*c {
			return false
		}
	}
	return g.crossSite(rq.hdr, host)
}

// ownCrossSite reports whether a request to an own route must be refused
// as cross-site: a state-changing request carried by the session cookie, or
// a login from another site (login CSRF: it would sign the browser in to
// somebody else's account).
func (g *Gateway) ownCrossSite(rq *request, r *route) bool {
	if !g.csrfOn() || !g.cfg.Transport.Cookies.Enabled || !unsafeMethod(rq.hdr.Method()) {
		return false
	}
	if r.name != "login" && !g.cookieAuthenticated(rq.hdr) {
		return false
	}
	return g.crossSite(rq.hdr, rq.host)
}
