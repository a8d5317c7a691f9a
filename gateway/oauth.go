package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/provider"
)

// The provider sign-in routes are thin: package provider runs the flow,
// package account starts the session. For each configured provider:
//
//	GET <routes.oauth>/<name>/authorize  {"authorization_url"} or 302 for a browser
//	GET <routes.oauth>/<name>/callback   the token pair (JSON), or cookies and 302 for a browser

func (g *Gateway) providerRoutes(t *routeTable) {
	if g.prov == nil {
		return
	}
	for _, p := range g.prov.Providers() {
		name := p.Name
		base := g.providerBase(name)
		t.add(base+"/authorize", "oauth_authorize", map[string]handler{"GET": func(c *fiber.Ctx, rq *request) error {
			return g.oauthAuthorize(c, rq, name)
		}})
		t.add(base+"/callback", "oauth_callback", map[string]handler{"GET": func(c *fiber.Ctx, rq *request) error {
			return g.oauthCallback(c, rq, name)
		}})
	}
}

func (g *Gateway) providerBase(name string) string {
	return strings.TrimSuffix(g.cfg.Routes.OAuth, "/") + "/" + name
}

// oauthCookie is the name of the cookie that binds a flow to the browser
// that started it: __Host- prefixed when it can be (Secure, no domain), so
// a sibling subdomain cannot plant one.
func (g *Gateway) oauthCookie() string {
	if ck := g.cfg.Transport.Cookies; ck.Secure == nil || *ck.Secure {
		return "__Host-authgate_oauth"
	}
	return "authgate_oauth"
}

func (g *Gateway) setOAuthCookie(c *fiber.Ctx, value string, exp time.Time) {
	ck := g.cfg.Transport.Cookies
	c.Cookie(&fiber.Cookie{
		Name: g.oauthCookie(), Value: value,
		// __Host- needs Path=/ and no Domain.
		Path: "/", Expires: exp, HTTPOnly: true,
		Secure: ck.Secure == nil || *ck.Secure,
		// Lax: the provider's redirect back is a top-level cross-site GET,
		// which must carry it.
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// wantsPage tells a browser navigation from an API client, the way the
// sign-in redirect does: Sec-Fetch-Mode: navigate, or (for browsers that
// do not send it) an Accept that prefers HTML.
func wantsPage(c *fiber.Ctx) bool {
	if m := c.Get("Sec-Fetch-Mode"); m != "" {
		return m == "navigate"
	}
	return c.Accepts(fiber.MIMEApplicationJSON, fiber.MIMETextHTML) == fiber.MIMETextHTML && c.Get("Accept") != ""
}

func (g *Gateway) oauthAuthorize(c *fiber.Ctx, rq *request, name string) error {
	var scopes []string
	for _, v := range c.Context().QueryArgs().PeekMulti("scopes") {
		scopes = append(scopes, strings.FieldsFunc(string(v), func(r rune) bool { return r == ' ' || r == ',' })...)
	}
	returnTo := ""
	if g.returns != nil {
		returnTo = g.returns.Resolve(c.Query("return_to"))
	}
	browser := wantsPage(c)
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	st, err := g.prov.Start(ctx, name, provider.Begin{Scopes: scopes, ReturnTo: returnTo, Browser: browser})
	if err != nil {
		return providerProblem(err)
	}
	g.setOAuthCookie(c, st.Binding, st.Expires)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if browser {
		return c.Redirect(st.URL, fiber.StatusFound)
	}
	return c.JSON(fiber.Map{"authorization_url": st.URL})
}

func (g *Gateway) oauthCallback(c *fiber.Ctx, rq *request, name string) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 20*time.Second) // two provider round trips
	defer cancel()
	binding := c.Cookies(g.oauthCookie())
	g.setOAuthCookie(c, "", time.Unix(0, 0)) // spent, whatever happens
	c.Set(fiber.HeaderCacheControl, "no-store")
	method := "provider:" + name
	res, err := g.prov.Finish(ctx, name, provider.Callback{
		State: c.Query("state"), Code: c.Query("code"), Error: c.Query("error"),
		ErrorDescription: c.Query("error_description"), Issuer: c.Query("iss"), Binding: binding,
	})
	if err != nil {
		if k := provider.KindOf(err); k != 0 {
			g.acct.NoteProvider(ctx, res.User, method, false, false, providerReason[k])
			g.log.InfoContext(c.UserContext(), "provider sign-in refused", "provider", name, "err", err)
		}
		return providerProblem(err)
	}
	g.acct.NoteProvider(ctx, res.User, method, res.Created, res.Linked, "")
	pair, err := g.acct.SignInVerified(ctx, res.User, method, g.client(c, rq))
	if err != nil {
		return err
	}
	rq.user = res.User.ID
	if res.RolesRemoved {
		// As for any role removal: older sessions carry roles the user
		// no longer has.
		if err := g.sessions.EndAll(ctx, res.User.ID, pair.Claims.SessionID); err != nil {
			return err
		}
	}
	if res.Browser && g.cfg.Transport.Cookies.Enabled {
		g.SetSession(c, pair)
		to := res.ReturnTo
		if to == "" {
			to = "/"
			if g.returns != nil {
				to = g.returns.Default()
			}
		}
		if pair.Claims != nil && pair.Claims.Step != "" && g.pages != nil {
			to = g.pages.MFAURL(to) // the second factor (or its set-up) first
		}
		return c.Redirect(to, fiber.StatusFound)
	}
	return g.sendPair(c, pair)
}

var providerReason = map[provider.Kind]string{
	provider.KindUnknownProvider: "unknown_provider", provider.KindBadRequest: "bad_request",
	provider.KindState: "bad_state", provider.KindDenied: "denied", provider.KindCode: "bad_code",
	provider.KindToken: "bad_token", provider.KindEmailUnverified: "email_unverified",
	provider.KindAccountExists: "account_exists", provider.KindSignupClosed: "signup_closed",
	provider.KindDisabled: "inactive", provider.KindUnavailable: "provider_unavailable",
}

var providerProblems = map[provider.Kind]ProblemType{
	provider.KindUnknownProvider: ProblemNotFound,
	provider.KindBadRequest:      ProblemValidation,
	provider.KindState:           ProblemOAuthState,
	provider.KindDenied:          ProblemOAuthDenied,
	provider.KindCode:            ProblemOAuthCode,
	provider.KindToken:           ProblemOAuthToken,
	provider.KindEmailUnverified: ProblemOAuthEmailUnverified,
	provider.KindAccountExists:   ProblemAccountExists,
	provider.KindSignupClosed:    ProblemOAuthSignupOff,
	provider.KindDisabled:        ProblemAccountDisabled,
	provider.KindUnavailable:     ProblemProviderUnavailable,
}

// providerProblem maps a refused provider sign-in to its problem; other
// errors (the store) go through asProblem as usual.
func providerProblem(err error) error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		p := &Problem{Type: providerProblems[pe.Kind], Detail: pe.Detail, Err: pe.Err}
		if pe.Kind == provider.KindBadRequest {
			p.Field = "scopes"
		}
		return p
	}
	return err
}
