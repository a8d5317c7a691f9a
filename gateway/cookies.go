package gateway

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"

	"authgate/auth"
	"authgate/config"
	"authgate/returnto"
)

// cookieJar is the cookie set of one cookie domain: names (with their
// prefix) and attributes.
//
// Prefixes defend against cookie tossing (a sibling subdomain, or a
// man-in-the-middle on plain HTTP, setting a cookie this site then reads):
// a secure host-only cookie is named __Host-<name>, which browsers accept
// only from this very host, over HTTPS, without Domain and with Path=/; a
// secure shared-domain cookie is __Secure-<name>, which at least requires
// HTTPS. authgate reads only the prefixed names, so an unprefixed cookie a
// sibling sets is never read. Without Secure (local development over plain
// HTTP) there is no prefix and no such protection.
type cookieJar struct {
	access, refresh, csrf string
	domain                string
	secure                bool
	sameSite              string
}

// cookieJars are the jars by request host: the cookie domains' hosts, then
// the default.
type cookieJars struct {
	byHost []hostJar
	def    *cookieJar
}

type hostJar struct {
	pattern returnto.Pattern
	jar     *cookieJar
}

func newCookieJars(ck config.Cookies) cookieJars {
	mk := func(domain string) *cookieJar {
		secure := ck.Secure == nil || *ck.Secure
		prefix := ""
		switch {
		case secure && domain == "":
			prefix = "__Host-"
		case secure:
			prefix = "__Secure-"
		}
		return &cookieJar{
			access: prefix + ck.AccessName, refresh: prefix + ck.RefreshName, csrf: prefix + "authgate_form",
			domain: domain, secure: secure, sameSite: ck.SameSite,
		}
	}
	js := cookieJars{def: mk(ck.Domain)}
	for _, d := range ck.Domains {
		jar := mk(strings.TrimPrefix(strings.ToLower(d.Domain), "."))
		for _, h := range d.Hosts {
			if p, err := returnto.ParsePattern(h); err == nil {
				js.byHost = append(js.byHost, hostJar{p, jar})
			}
		}
	}
	return js
}

// jar is the jar for the request's host.
func (g *Gateway) jar(hdr *fasthttp.RequestHeader) *cookieJar {
	if len(g.jars.byHost) == 0 {
		return g.jars.def
	}
	host := utils.UnsafeString(hdr.Host())
	for i := range g.jars.byHost {
		if g.jars.byHost[i].pattern.Match(host) {
			return g.jars.byHost[i].jar
		}
	}
	return g.jars.def
}

func (g *Gateway) setCookie(c *fiber.Ctx, jar *cookieJar, name, value string, exp time.Time, sameSite string) {
	c.Cookie(&fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Domain:   jar.domain,
		Expires:  exp,
		Secure:   jar.secure,
		HTTPOnly: true,
		SameSite: sameSite,
	})
}

// SetSession sets the access and refresh cookies of p (pages.Host). Both
// have Path=/: the refresh cookie must reach every path so that an expired
// access cookie is renewed on any request (see autoRefresh).
func (g *Gateway) SetSession(c *fiber.Ctx, p auth.Pair) {
	jar := g.jar(&c.Request().Header)
	g.setCookie(c, jar, jar.access, p.AccessToken, g.now().Add(time.Duration(p.ExpiresIn)*time.Second), jar.sameSite)
	g.setCookie(c, jar, jar.refresh, p.RefreshToken, p.RefreshExpiresAt, jar.sameSite)
}

// ClearSession expires the session cookies (pages.Host).
func (g *Gateway) ClearSession(c *fiber.Ctx) {
	jar := g.jar(&c.Request().Header)
	g.setCookie(c, jar, jar.access, "", time.Unix(0, 0), jar.sameSite)
	g.setCookie(c, jar, jar.refresh, "", time.Unix(0, 0), jar.sameSite)
}

// CSRFCookie is the form-token cookie's value (pages.Host).
func (g *Gateway) CSRFCookie(c *fiber.Ctx) string {
	return string(c.Request().Header.Cookie(g.jar(&c.Request().Header).csrf))
}

// SetCSRFCookie sets the form-token cookie, host-only and SameSite=Strict
// (pages.Host): it must never be sent along with another site's request.
func (g *Gateway) SetCSRFCookie(c *fiber.Ctx, token string) {
	jar := g.jar(&c.Request().Header)
	g.setCookie(c, jar, jar.csrf, token, g.now().Add(12*time.Hour), "strict")
}

// SameOrigin reports whether the request comes from a page of this site
// (pages.Host).
func (g *Gateway) SameOrigin(c *fiber.Ctx) bool {
	return !g.crossSite(&c.Request().Header, utils.UnsafeString(c.Request().Header.Host()))
}
