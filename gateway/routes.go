package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/account"
	"authgate/auth"
	"authgate/store"
)

// ownRoutes is the table of the gateway's own routes (SPEC section 3).
func (g *Gateway) ownRoutes() routeTable {
	r := g.cfg.Routes
	t := routeTable{exact: map[string]*route{}}
	t.add(r.Login, "login", map[string]handler{"POST": g.login})
	t.add(r.Refresh, "refresh", map[string]handler{"POST": g.refresh})
	t.add(r.Me, "me", map[string]handler{"GET": g.me, "PATCH": g.patchMe})
	t.add(r.Logout, "logout", map[string]handler{"POST": g.logout})
	t.add(r.JWKS, "jwks", map[string]handler{"GET": g.jwks})
	t.add(r.Healthz, "healthz", map[string]handler{"GET": g.healthz})
	t.add(r.Readyz, "readyz", map[string]handler{"GET": g.readyz})
	if g.cfg.Server.MetricsOnListen {
		mh := g.metricsHandler()
		t.add(r.Metrics, "metrics", map[string]handler{"GET": func(c *fiber.Ctx, _ *request) error { return mh(c) }})
	}
	t.exact[r.Verify] = &route{name: "verify", anyMethod: g.verify}
	g.accountRoutes(&t)
	if g.pages != nil {
		t.pagesPrefix = g.cfg.Browser.Path + "/"
		t.pages = &route{name: "page", anyMethod: g.servePage}
	}
	g.providerRoutes(&t)
	g.mfaRoutes(&t)
	return t
}

// storeCtx bounds a store call made for a request.
func (g *Gateway) storeCtx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), 5*time.Second)
}

type tokenResponse struct {
	AccessToken    string `json:"access_token"`
	TokenType      string `json:"token_type"`
	ExpiresIn      int    `json:"expires_in"`
	RefreshToken   string `json:"refresh_token"`
	ChangePassword bool   `json:"change_password,omitempty"`
}

// sendPair answers a login or refresh, setting cookies when enabled.
func (g *Gateway) sendPair(c *fiber.Ctx, p auth.Pair) error {
	if g.cfg.Transport.Cookies.Enabled {
		g.SetSession(c, p)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(tokenResponse{
		AccessToken:    p.AccessToken,
		TokenType:      "Bearer",
		ExpiresIn:      p.ExpiresIn,
		RefreshToken:   p.RefreshToken,
		ChangePassword: p.Claims.PasswordChange,
	})
}

func (g *Gateway) clearCookies(c *fiber.Ctx) {
	if g.cfg.Transport.Cookies.Enabled {
		g.ClearSession(c)
	}
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login is POST /auth (account.SignIn). ?role= (repeatable) scopes the
// sign-in: only a user with one of the roles is let in, and anybody else
// gets the same 401 as for a wrong password.
func (g *Gateway) login(c *fiber.Ctx, rq *request) error {
	var in loginRequest
	if mediaType(c) == fiber.MIMEApplicationForm {
		form, err := g.decodeForm(c)
		if err != nil {
			return err
		}
		in.Username, in.Password = form.Get("username"), form.Get("password")
	} else if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	pair, u, err := g.acct.SignIn(ctx, account.Login{Username: in.Username, Password: in.Password, Roles: loginRoles(c)}, g.client(c, rq))
	if err != nil {
		return err
	}
	rq.user = u.ID
	return g.sendPair(c, pair)
}

// loginRoles are the roles a JSON sign-in is scoped to: the ?role= values.
func loginRoles(c *fiber.Ctx) []string {
	var roles []string
	for k, v := range c.Request().URI().QueryArgs().All() {
		if string(k) == "role" && len(v) > 0 {
			roles = append(roles, string(v))
		}
	}
	return roles
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh is POST /auth/refresh.
func (g *Gateway) refresh(c *fiber.Ctx, rq *request) error {
	var in refreshRequest
	ck := g.cfg.Transport.Cookies
	switch {
	case ck.Enabled && len(c.Request().Header.Cookie(g.jar(rq.hdr).refresh)) > 0 && c.Request().Header.ContentLength() <= 0:
		in.RefreshToken = string(c.Request().Header.Cookie(g.jar(rq.hdr).refresh))
	case mediaType(c) == fiber.MIMEApplicationForm:
		form, err := g.decodeForm(c)
		if err != nil {
			return err
		}
		in.RefreshToken = form.Get("refresh_token")
	default:
		if err := g.decodeJSON(c, &in); err != nil {
			return err
		}
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	pair, u, err := g.acct.Refresh(ctx, in.RefreshToken, g.client(c, rq))
	if e, ok := account.AsError(err); ok && e.Kind == account.KindInvalidRefresh {
		g.clearCookies(c)
	}
	if err != nil {
		return err
	}
	rq.user = u.ID
	return g.sendPair(c, pair)
}

type meResponse struct {
	ID                 string   `json:"id"`
	Username           string   `json:"username"`
	Email              string   `json:"email"`
	Roles              []string `json:"roles"`
	EmailVerified      bool     `json:"email_verified"`
	MustChangePassword bool     `json:"must_change_password"`
	Exp                int64    `json:"exp"`
	SessionID          string   `json:"sid"`
}

// me is GET /me. A must-change token is accepted here, and a restricted
// one (a page asks who is signing in during the second step).
func (g *Gateway) me(c *fiber.Ctx, rq *request) error {
	claims, err := g.authenticateStep(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.acct.Me(ctx, claims)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(meFrom(u, claims))
}

func meFrom(u store.User, claims *auth.Claims) meResponse {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	r := meResponse{
		ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles,
		EmailVerified: u.EmailVerified, MustChangePassword: u.MustChangePassword,
	}
	if claims != nil {
		r.SessionID = claims.SessionID
		if claims.ExpiresAt != nil {
			r.Exp = claims.ExpiresAt.Unix()
		}
	}
	return r
}

// logout is POST /logout (?all=true for every session of the user). A
// must-change or restricted token may log out: ending a session grants
// nothing.
func (g *Gateway) logout(c *fiber.Ctx, rq *request) error {
	claims, err := g.authenticateToEnd(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.acct.SignOut(ctx, claims, c.Query("all") == "true"); err != nil {
		return err
	}
	g.clearCookies(c)
	return c.SendStatus(fiber.StatusNoContent)
}

// jwks is GET /.well-known/jwks.json.
func (g *Gateway) jwks(c *fiber.Ctx, _ *request) error {
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(g.keys.JWKS())
}

func (g *Gateway) healthz(c *fiber.Ctx, _ *request) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz is 200 while the store answers and this instance holds its
// revocation lease (it accepts tokens), 503 otherwise.
func (g *Gateway) readyz(c *fiber.Ctx, _ *request) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := g.st.Ping(ctx); err != nil {
		return &Problem{Type: ProblemStoreUnavailable, Detail: "the store does not answer", Err: errors.Join(store.ErrUnavailable, err)}
	}
	if err := g.lease.Admit(g.lease.Epoch(), time.Now()); errors.Is(err, auth.ErrNotInStep) {
		return &Problem{Type: ProblemStoreUnavailable, Detail: "this instance is not in step with the revocation feed", Err: err}
	}
	if d := g.reloadDetail(); d != nil {
		return c.JSON(fiber.Map{"status": "ready", "config": d})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
