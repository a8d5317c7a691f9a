package gateway

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// CSRF defence for requests authenticated by the session cookie.
//
// A browser attaches cookies to requests other sites make it send; with
// same_site: none (or a sibling subdomain, which SameSite counts as the same
// site) a cross-site form could post to /logout or to a proxied app as the
// signed-in person. So a state-changing request (anything but GET, HEAD,
// OPTIONS, TRACE) whose token came from the cookie must come from this
// site: Sec-Fetch-Site "same-origin" or "none" (typed, bookmarked), else an
// Origin (or, without one, a Referer) whose host is the request's host or
// an allow-listed return host. A request that carries none of the three is
// not from a browser that could be tricked into it, and passes. Bearer
// requests are not affected: another site cannot make a browser send an
// Authorization header.

// unsafeMethod reports whether m changes state (RFC 9110, section 9.2.1).
func unsafeMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodTrace:
		return false
	}
	return true
}

// cookieAuthenticated reports whether the request's token comes from the
// access cookie (no bearer header) or it carries a refresh cookie.
func (g *Gateway) cookieAuthenticated(hdr *fasthttp.RequestHeader) bool {
	if !g.cfg.Transport.Cookies.Enabled {
		return false
	}
	if g.cfg.Transport.Bearer == nil || *g.cfg.Transport.Bearer {
		if h := hdr.Peek(fasthttp.HeaderAuthorization); len(h) > 7 && strings.EqualFold(utils.UnsafeString(h[:7]), "bearer ") {
			return false
		}
	}
	jar := g.jar(hdr)
	return len(hdr.Cookie(jar.access)) > 0 || len(hdr.Cookie(jar.refresh)) > 0
}

// csrfOn is transport.cookies.csrf.
func (g *Gateway) csrfOn() bool {
	c := g.cfg.Transport.Cookies.CSRF
	return c == nil || *c
}

// crossSite reports whether the request was made by a page of another
// site than host (the request's or the forwarded host).
func (g *Gateway) crossSite(hdr *fasthttp.RequestHeader, host string) bool {
	switch utils.UnsafeString(hdr.Peek("Sec-Fetch-Site")) {
	case "same-origin", "none":
		return false
	}
	from := hdr.Peek(fasthttp.HeaderOrigin)
	if len(from) == 0 {
		from = hdr.Peek(fasthttp.HeaderReferer)
	}
	if len(from) == 0 {
		// Sec-Fetch-Site cross-site/same-site without Origin cannot
		// happen in a browser; without all three it is no browser.
		return len(hdr.Peek("Sec-Fetch-Site")) > 0
	}
	u, err := url.Parse(string(from))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return true // "null" origins (sandboxed frames, data: URLs) included
	}
	if strings.EqualFold(u.Host, host) {
		return false
	}
	return g.returns == nil || !g.returns.AllowsHost(u.Host)
}

// csrfRefused is the problem for a cross-site request.
func csrfRefused() *Problem {
	return problem(ProblemCrossSite, "a cross-site request cannot use the session cookie to change anything; send it from this site or with Authorization: Bearer")
}
