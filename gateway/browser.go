package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"

	"authgate/account"
	"authgate/auth"
	"authgate/pages"
	"authgate/returnto"
)

// Browser sign-in on the request path: the pages route, the renewal of an
// expired access cookie in the same round trip, and the redirect of a
// browser navigation without a session to the sign-in page. The pages
// themselves are package pages'; the flows package account's.

func (g *Gateway) buildBrowser() error {
	b := g.cfg.Browser
	var err error
	if g.returns, err = returnto.New(b.ReturnHosts, b.DefaultReturn); err != nil {
		return err
	}
	if !b.Enabled {
		return nil
	}
	var buttons []pages.ProviderButton
	for _, p := range g.cfg.Providers {
		buttons = append(buttons, pages.ProviderButton{Label: p.DisplayName, URL: g.providerBase(p.Name) + "/authorize"})
	}
	g.pages, err = pages.New(pages.Options{Config: g.cfg, Accounts: g.acct, Return: g.returns, Host: g, Logger: g.log, Providers: buttons})
	return err
}

// servePage is every path under browser.path.
func (g *Gateway) servePage(c *fiber.Ctx, rq *request) error {
	sub, _ := c.Locals(localID).(string)
	r := pages.Request{ClientIP: rq.clientIP}
	// Restricted tokens too: the second-step page is where they are used
	// (every other page refuses them).
	if claims, err := g.authenticateStep(rq); err == nil {
		r.Claims = claims
	}
	r.Refresh = string(rq.hdr.Cookie(g.jar(rq.hdr).refresh))
	if c.Method() == fiber.MethodPost {
		if mediaType(c) != fiber.MIMEApplicationForm {
			return problem(ProblemUnsupportedMedia, "send the form as application/x-www-form-urlencoded")
		}
		form, err := g.decodeForm(c)
		if err != nil {
			return err
		}
		r.Form = form
	}
	ok, err := g.pages.Serve(c, sub, r)
	if !ok && err == nil {
		return problem(ProblemNotFound, "no such page")
	}
	return err
}

// navigation reports whether the request is a browser navigation: a GET or
// HEAD with Sec-Fetch-Mode: navigate, or, from browsers that do not send
// it, an Accept that names text/html and no X-Requested-With (XHR).
func navigation(method string, hdr *fasthttp.RequestHeader) bool {
	if method != fiber.MethodGet && method != fiber.MethodHead {
		return false
	}
	if m := hdr.Peek("Sec-Fetch-Mode"); len(m) > 0 {
		return string(m) == "navigate"
	}
	if len(hdr.Peek(fiber.HeaderXRequestedWith)) > 0 {
		return false
	}
	return acceptsHTML(utils.UnsafeString(hdr.Peek(fiber.HeaderAccept)))
}

// acceptsHTML: text/html is listed with a q above 0 and at least that of
// application/json.
func acceptsHTML(accept string) bool {
	html, json := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, param := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(param), "q="); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
					q = f
				} else {
					q = 0
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/html", "application/xhtml+xml":
			html = max(html, q)
		case "application/json", "application/problem+json":
			json = max(json, q)
		}
	}
	return html > 0 && html >= json
}

// signInRedirect turns a 401 (or a must-change 403) for a browser
// navigation into 302 to the sign-in (or change-password, or
// second-factor) page, returning to target (a path and query on this
// site), written into resp (the Fiber ctx's response, or a fast-path
// loop's answer for forward-auth). It reports whether it did.
func (g *Gateway) signInRedirect(resp *fasthttp.Response, method string, hdr *fasthttp.RequestHeader, p *Problem, target string) bool {
	if g.pages == nil || !navigation(method, hdr) {
		return false
	}
	var to string
	switch {
	case p.Type == ProblemSecondFactorRequired:
		to = g.pages.MFAURL(g.returns.Resolve(target))
	case p.Type.Status == fiber.StatusUnauthorized:
		to = g.pages.SignInURL(g.returns.Resolve(target))
	case p.Type == ProblemPasswordChange:
		to = g.pages.PasswordURL(g.returns.Resolve(target))
	default:
		return false
	}
	resp.ResetBody()
	resp.Header.Set(fiber.HeaderCacheControl, "no-store")
	resp.Header.Set(fiber.HeaderLocation, to)
	resp.SetStatusCode(fiber.StatusFound)
	return true
}

// returnTarget is the path and query the client asked for.
func returnTarget(rq *request) string {
	if rq.query == "" {
		return rq.path
	}
	return rq.path + "?" + rq.query
}

// autoRefresh renews the session when the access cookie is missing or has
// expired and the refresh cookie is valid: the new cookies go on the
// response and the new access token replaces the old one in the request,
// so that the request is decided, and served, with it. It is skipped for
// requests with a bearer token and for the refresh and login routes, and
// for forward-auth: a proxy's auth subrequest cannot hand new cookies to
// the browser, so a rotation there would leave the browser with a spent
// refresh token. A navigation there is sent to the sign-in page, which
// renews the session and sends the person straight back.
//
// Tabs that send the same refresh cookie at once share one rotation in
// this instance (refreshes); across instances the store's grace rule for a
// just-spent refresh token applies.
func (g *Gateway) autoRefresh(c *fiber.Ctx, rq *request) {
	if !g.cfg.Transport.Cookies.Enabled || rq.path == g.cfg.Routes.Refresh || rq.path == g.cfg.Routes.Login || rq.path == g.cfg.Routes.Verify {
		return
	}
	if g.cfg.Transport.Bearer == nil || *g.cfg.Transport.Bearer {
		if h := rq.hdr.Peek(fasthttp.HeaderAuthorization); len(h) > 0 {
			return
		}
	}
	jar := g.jar(rq.hdr)
	rt := rq.hdr.Cookie(jar.refresh)
	if len(rt) == 0 {
		return
	}
	if at := rq.hdr.Cookie(jar.access); len(at) > 0 {
		now := g.now()
		claims, err := g.verifier.Authenticate(utils.UnsafeString(at), now)
		if errors.Is(err, auth.ErrTokenRevoked) {
			return // the session has ended: nothing to renew
		}
		// Renewed a little before it expires too, so that it cannot
		// expire between this check and the decision.
		if err == nil && (claims.ExpiresAt == nil || claims.ExpiresAt.Sub(now) > renewAhead(g.cfg.Tokens.AccessTTL)) {
			return
		}
	}
	pair, err := g.refreshes.do(string(rt), func() (auth.Pair, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p, _, err := g.acct.Refresh(ctx, string(rt), account.Client{IP: rq.clientIP})
		return p, err
	})
	if err != nil {
		if _, refused := account.AsError(err); refused {
			g.ClearSession(c) // spent, expired or revoked: stop sending it
		} else {
			g.log.WarnContext(c.UserContext(), "session renewal failed", "err", err.Error())
		}
		return
	}
	g.SetSession(c, pair)
	rq.hdr.SetCookie(jar.access, pair.AccessToken)
	rq.hdr.SetCookie(jar.refresh, pair.RefreshToken)
}

// renewAhead is how long before its expiry an access cookie is renewed: a
// quarter of its lifetime, at most 30 seconds.
func renewAhead(ttl time.Duration) time.Duration {
	return min(ttl/4, 30*time.Second)
}

// refreshGroup runs one rotation per refresh token at a time and keeps its
// result for a few seconds, for the requests of other tabs that were sent
// with the same cookie.
type refreshGroup struct {
	mu    sync.Mutex
	calls map[[32]byte]*refreshCall
}

type refreshCall struct {
	done chan struct{}
	pair auth.Pair
	err  error
	at   time.Time
}

// refreshMemo is how long a rotation's result is handed to requests that
// carry the token it spent.
const refreshMemo = 10 * time.Second

func (r *refreshGroup) do(token string, f func() (auth.Pair, error)) (auth.Pair, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[[32]byte]*refreshCall{}
	}
	for k, c := range r.calls { // few entries: only recent rotations
		if !c.at.IsZero() && now.Sub(c.at) > refreshMemo {
			delete(r.calls, k)
		}
	}
	if c, ok := r.calls[key]; ok {
		r.mu.Unlock()
		<-c.done
		return c.pair, c.err
	}
	c := &refreshCall{done: make(chan struct{})}
	r.calls[key] = c
	r.mu.Unlock()
	c.pair, c.err = f()
	r.mu.Lock()
	c.at = time.Now()
	if c.err != nil && !isRefusal(c.err) {
		delete(r.calls, key) // an outage: let the next request try again
	}
	r.mu.Unlock()
	close(c.done)
	return c.pair, c.err
}

func isRefusal(err error) bool {
	_, ok := account.AsError(err)
	return ok
}
