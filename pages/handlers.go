package pages

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/account"
	"authgate/auth"
	"authgate/config"
	"authgate/returnto"
)

// Host is what the pages need from the gateway around them: the session
// and CSRF cookies, and the same-origin check of package gateway's CSRF
// defence (one implementation for the pages, the JSON routes and the
// proxied requests).
type Host interface {
	// SetSession sets the access and refresh cookies of p.
	SetSession(c *fiber.Ctx, p auth.Pair)
	// ClearSession expires them.
	ClearSession(c *fiber.Ctx)
	// CSRFCookie is the form token cookie's value ("" when absent);
	// SetCSRFCookie sets it.
	CSRFCookie(c *fiber.Ctx) string
	SetCSRFCookie(c *fiber.Ctx, token string)
	// SameOrigin reports whether the request comes from a page of this
	// site (Sec-Fetch-Site, Origin, Referer).
	SameOrigin(c *fiber.Ctx) bool
}

// Options build Pages.
type Options struct {
	Config   *config.Config
	Accounts *account.Service
	Return   *returnto.Policy
	Host     Host
	Logger   *slog.Logger
	// Providers are the identity providers offered on the sign-in page
	// ("Sign in with …"), in order.
	Providers []ProviderButton
}

// ProviderButton is a "Sign in with …" link: URL is the provider's
// authorize route; the page adds the return address.
type ProviderButton struct {
	Label, URL string
}

// Pages serves the pages under browser.path.
type Pages struct {
	cfg    *config.Config
	acct   *account.Service
	ret    *returnto.Policy
	host   Host
	log    *slog.Logger
	tpl    *Templates
	base   string
	scoped map[string]config.ScopedSignIn
	csp    string // with %s for the nonce
	provs  []ProviderButton
}

// New loads the templates and builds the pages.
func New(o Options) (*Pages, error) {
	tpl, err := LoadTemplates(o.Config.Browser.TemplatesDir)
	if err != nil {
		return nil, err
	}
	p := &Pages{cfg: o.Config, acct: o.Accounts, ret: o.Return, host: o.Host, log: o.Logger, tpl: tpl, provs: o.Providers,
		base: o.Config.Browser.Path, scoped: map[string]config.ScopedSignIn{}}
	if p.log == nil {
		p.log = slog.Default()
	}
	for _, s := range o.Config.Browser.ScopedSignIn {
		p.scoped[s.Name] = s
	}
	// form-action covers the redirect after a form too (Chrome): the
	// allowed return hosts must be listed.
	formAction := "'self'"
	for _, h := range o.Return.Hosts() {
		host := h.Host
		if h.Wildcard {
			host = "*." + host
		}
		if h.Port != "" {
			host += ":" + h.Port
		}
		formAction += " " + host
	}
	// Scripts: only the passkey script, served from here ('self'), which
	// fetches the JSON routes of this site.
	p.csp = "default-src 'none'; style-src 'nonce-%s'; img-src 'self' data:; script-src 'self'; connect-src 'self'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
	return p, nil
}

// Path is the URL path of a page.
func (p *Pages) Path(page string) string { return p.base + "/" + page }

// SignInURL is the sign-in page that returns to ret afterwards.
func (p *Pages) SignInURL(ret string) string {
	if ret == "" {
		return p.Path(PageSignIn)
	}
	return p.Path(PageSignIn) + "?return_to=" + url.QueryEscape(ret)
}

// PasswordURL is the change-password page that returns to ret.
func (p *Pages) PasswordURL(ret string) string {
	if ret == "" {
		return p.Path(PagePassword)
	}
	return p.Path(PagePassword) + "?return_to=" + url.QueryEscape(ret)
}

// MFAURL is the second-factor page (the second step, enrolment, a
// step-up) that returns to ret.
func (p *Pages) MFAURL(ret string) string {
	if ret == "" {
		return p.base + "/mfa"
	}
	return p.base + "/mfa?return_to=" + url.QueryEscape(ret)
}

// Request is what the gateway knows about the request.
type Request struct {
	ClientIP string
	// Claims of the session cookie, nil without a valid one (the gateway
	// has already rotated an expired access cookie). A must-change token
	// is given too.
	Claims *auth.Claims
	// Refresh is the refresh cookie's value, after any rotation.
	Refresh string
	// Form is the decoded body of a POST (the gateway reads it within
	// server.body_limit).
	Form url.Values
}

// Serve answers the page at sub, the path below browser.path without the
// slash ("sign-in", "sign-in/admin", ...). ok is false when there is no
// such page (the gateway answers 404 itself).
func (p *Pages) Serve(c *fiber.Ctx, sub string, r Request) (ok bool, err error) {
	var h func(*fiber.Ctx, *View, Request) error
	var scope *config.ScopedSignIn
	switch sub {
	case PageSignIn:
		h = func(c *fiber.Ctx, v *View, r Request) error { return p.signIn(c, v, r, nil) }
	case PageRegister:
		h = p.register
	case PageForgot:
		h = p.forgot
	case PageReset:
		h = p.reset
	case PageVerify:
		h = p.verify
	case PagePassword:
		h = p.password
	case PageSignOut:
		h = p.signOut
	case PageSigned:
		h = p.signedOut
	case PageMFA:
		h = p.secondStep
	case PageSecurity:
		h = p.security
	case PageMFAScript:
		if !p.mfaOn() {
			return false, nil
		}
		return true, p.script(c)
	default:
		name, found := strings.CutPrefix(sub, PageSignIn+"/")
		s, known := p.scoped[name]
		if !found || !known {
			return false, nil
		}
		scope = &s
		h = func(c *fiber.Ctx, v *View, r Request) error { return p.signIn(c, v, r, scope) }
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost:
	default:
		c.Set(fiber.HeaderAllow, "GET, HEAD, POST")
		return true, c.Status(fiber.StatusMethodNotAllowed).SendString("method not allowed")
	}
	v := &View{Action: p.base + "/" + sub, Links: Links{
		SignIn: p.Path(PageSignIn), Forgot: p.Path(PageForgot), SignOut: p.Path(PageSignOut),
	}}
	if p.cfg.Users.Registration {
		v.Links.Register = p.Path(PageRegister)
	}
	if ret, ok := p.ret.Check(c.Query("return_to")); ok {
		v.Return = ret
	}
	v.CSRF = p.host.CSRFCookie(c)
	if c.Method() == fiber.MethodPost {
		form := r.Form
		if form == nil {
			form = url.Values{}
		}
		c.Locals(formKey, form)
		if ret, ok := p.ret.Check(form.Get("return_to")); ok {
			v.Return = ret
		}
		sent := form.Get("csrf")
		if !p.host.SameOrigin(c) || v.CSRF == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(v.CSRF)) != 1 {
			p.newCSRF(c, v)
			v.Error = "This form has expired or was sent from another site. Please try again."
			return true, p.render(c, fiber.StatusForbidden, sub, v)
		}
	} else if v.CSRF == "" {
		p.newCSRF(c, v)
	}
	return true, h(c, v, r)
}

type localKey int

const formKey localKey = 0

func form(c *fiber.Ctx) url.Values {
	f, _ := c.Locals(formKey).(url.Values)
	if f == nil {
		f = url.Values{}
	}
	return f
}

func (p *Pages) newCSRF(c *fiber.Ctx, v *View) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	v.CSRF = base64.RawURLEncoding.EncodeToString(b[:])
	p.host.SetCSRFCookie(c, v.CSRF)
}

// render writes the page with the browser-facing headers.
func (p *Pages) render(c *fiber.Ctx, status int, page string, v *View) error {
	var nb [16]byte
	_, _ = rand.Read(nb[:])
	v.Nonce = base64.RawStdEncoding.EncodeToString(nb[:])
	if v.Title == "" {
		v.Title = titles[page]
	}
	body, err := p.tpl.Render(templateOf(page), v)
	if err != nil {
		return err
	}
	h := &c.Response().Header
	h.Set(fiber.HeaderContentSecurityPolicy, strings.Replace(p.csp, "%s", v.Nonce, 1))
	h.Set(fiber.HeaderXFrameOptions, "DENY")
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	h.Set(fiber.HeaderCacheControl, "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Status(status)
	if c.Method() == fiber.MethodHead {
		return nil
	}
	return c.Send(body)
}

func templateOf(page string) string {
	if strings.HasPrefix(page, PageSignIn+"/") {
		return PageSignIn
	}
	return page
}

// script serves the passkey script (GET and HEAD only).
func (p *Pages) script(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead:
	default:
		c.Set(fiber.HeaderAllow, "GET, HEAD")
		return c.Status(fiber.StatusMethodNotAllowed).SendString("method not allowed")
	}
	h := &c.Response().Header
	h.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderCacheControl, "no-cache")
	h.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'")
	c.Status(fiber.StatusOK)
	if c.Method() == fiber.MethodHead {
		return nil
	}
	return c.Send(passkeyJS)
}

var titles = map[string]string{
	PageSignIn: "Sign in", PageRegister: "Create an account", PageForgot: "Forgot your password?",
	PageReset: "Choose a new password", PageVerify: "Confirm your email address", PagePassword: "Change your password",
	PageSignOut: "Sign out", PageSigned: "Signed out", PageMessage: "authgate",
	PageMFA: "Second step", PageSecurity: "Sign-in security",
}

// see is a 303 to a page or return address.
func see(c *fiber.Ctx, to string) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderLocation, to)
	return c.SendStatus(fiber.StatusSeeOther)
}

// refused shows an account refusal on the form: next to its field when the
// page has it, else on the form. It returns the status to answer with.
func (p *Pages) refused(c *fiber.Ctx, v *View, err error, fields ...string) (int, error) {
	e, ok := account.AsError(err)
	if !ok {
		p.log.ErrorContext(c.UserContext(), "page flow failed", "path", c.Path(), "err", err.Error())
		v.Error = "This cannot be done right now. Please try again in a moment."
		return fiber.StatusServiceUnavailable, nil
	}
	status := kindStatus[e.Kind]
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(e.RetryAfter))
		v.Error = "Too many attempts. Please wait " + wait(e.RetryAfter) + " and try again."
		if e.Kind == account.KindLocked {
			v.Error = "Too many failed sign-ins for this account. Please wait " + wait(e.RetryAfter) + " and try again."
		}
		return status, nil
	}
	for _, f := range fields {
		if e.Field == f {
			v.fieldError(f, fieldMessage(f, e.Detail))
			return status, nil
		}
	}
	v.Error = fieldMessage(e.Field, e.Detail)
	return status, nil
}

func wait(s int) string {
	d := time.Duration(s) * time.Second
	if d < time.Minute {
		return strconv.Itoa(s) + " seconds"
	}
	return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " minutes"
}

var kindStatus = map[account.Kind]int{
	account.KindValidation: 400, account.KindWeakPassword: 400, account.KindPasswordTooLong: 400,
	account.KindUsernameTaken: 400, account.KindEmailTaken: 400, account.KindInvalidOneTime: 400,
	account.KindInvalidCredentials: 401, account.KindInvalidToken: 401, account.KindInvalidRefresh: 401,
	account.KindForbidden: 403, account.KindPasswordChange: 403, account.KindEmailNotVerified: 403,
	account.KindRegistrationOff: 403, account.KindNotFound: 404, account.KindRateLimited: 429, account.KindLocked: 429,
	account.KindSecondFactorInvalid: 401, account.KindSecondFactorRequired: 401, account.KindNotEnrolled: 409,
	account.KindFreshSecondFactor: 403,
}

func (p *Pages) ctx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), 10*time.Second)
}

func (p *Pages) signIn(c *fiber.Ctx, v *View, r Request, scope *config.ScopedSignIn) error {
	if scope != nil {
		v.Title = scope.Title
		v.Info = "Only accounts with the role " + strings.Join(scope.Roles, " or ") + " can sign in here."
	}
	page := PageSignIn
	if scope != nil {
		page = PageSignIn + "/" + scope.Name
	}
	if scope == nil {
		v.Providers = p.provs
	}
	if c.Method() != fiber.MethodPost {
		if r.Claims != nil && !r.Claims.PasswordChange && scope == nil {
			if r.Claims.Step != "" && p.mfaOn() {
				return see(c, p.MFAURL(p.ret.Resolve(v.Return)))
			}
			return see(c, p.ret.Resolve(v.Return))
		}
		return p.render(c, fiber.StatusOK, page, v)
	}
	f := form(c)
	in := account.Login{Username: f.Get("username"), Password: f.Get("password")}
	if scope != nil {
		in.Roles = scope.Roles
	}
	v.keep("username", in.Username)
	ctx, cancel := p.ctx(c)
	defer cancel()
	pair, _, err := p.acct.SignIn(ctx, in, account.Client{IP: r.ClientIP})
	if err != nil {
		status, _ := p.refused(c, v, err, "username", "password")
		if e, ok := account.AsError(err); ok && e.Kind == account.KindInvalidCredentials {
			v.Error = "The username or password is wrong."
		}
		if e, ok := account.AsError(err); ok && e.Kind == account.KindEmailNotVerified {
			v.errors = nil
			v.Error = "Confirm your email address first: follow the link we sent you."
		}
		return p.render(c, status, page, v)
	}
	// A new session every time (never one the browser brought: session
	// fixation), and a new form token with it.
	p.host.SetSession(c, pair)
	p.newCSRF(c, v)
	ret := p.ret.Resolve(v.Return)
	if pair.Claims.Step != "" { // a second factor to give (or set up) first
		return see(c, p.MFAURL(ret))
	}
	if pair.Claims.PasswordChange {
		return see(c, p.PasswordURL(ret))
	}
	return see(c, ret)
}

func (p *Pages) register(c *fiber.Ctx, v *View, r Request) error {
	if !p.cfg.Users.Registration {
		v.Title, v.Error = "Create an account", "Registration is closed. Ask an administrator for an account."
		return p.render(c, fiber.StatusNotFound, PageMessage, v)
	}
	if c.Method() != fiber.MethodPost {
		return p.render(c, fiber.StatusOK, PageRegister, v)
	}
	f := form(c)
	in := account.Registration{Username: f.Get("username"), Email: f.Get("email"), Password: f.Get("password")}
	v.keep("username", in.Username)
	v.keep("email", in.Email)
	ctx, cancel := p.ctx(c)
	defer cancel()
	if _, err := p.acct.Register(ctx, in, account.Client{IP: r.ClientIP}); err != nil {
		status, _ := p.refused(c, v, err, "username", "email", "password")
		return p.render(c, status, PageRegister, v)
	}
	v.Title, v.Info = "Account created", "Your account is ready. We have sent a link to "+in.Email+" to confirm the address."
	return p.render(c, fiber.StatusCreated, PageMessage, v)
}

func (p *Pages) forgot(c *fiber.Ctx, v *View, r Request) error {
	if c.Method() != fiber.MethodPost {
		return p.render(c, fiber.StatusOK, PageForgot, v)
	}
	email := form(c).Get("email")
	v.keep("email", email)
	ctx, cancel := p.ctx(c)
	defer cancel()
	if err := p.acct.ForgotPassword(ctx, email, account.Client{IP: r.ClientIP}); err != nil {
		status, _ := p.refused(c, v, err, "email")
		return p.render(c, status, PageForgot, v)
	}
	// The same answer whether or not an account has the address.
	v.Done = true
	v.Info = "If an account has this address, a link to choose a new password is on its way. Check your mail."
	return p.render(c, fiber.StatusAccepted, PageForgot, v)
}

func (p *Pages) reset(c *fiber.Ctx, v *View, r Request) error {
	if c.Method() != fiber.MethodPost {
		v.Token = c.Query("token")
		if _, _, e := account.CheckOneTime(v.Token); e != nil {
			v.Done, v.Error = true, "This link is not valid. Request a new one."
			return p.render(c, fiber.StatusBadRequest, PageReset, v)
		}
		return p.render(c, fiber.StatusOK, PageReset, v)
	}
	f := form(c)
	v.Token = f.Get("token")
	ctx, cancel := p.ctx(c)
	defer cancel()
	if _, err := p.acct.ResetPassword(ctx, v.Token, f.Get("password")); err != nil {
		status, _ := p.refused(c, v, err, "password")
		if e, ok := account.AsError(err); ok && e.Kind == account.KindInvalidOneTime {
			v.Done, v.Error = true, "This link is invalid, expired or already used. Request a new one."
		}
		return p.render(c, status, PageReset, v)
	}
	v.Title, v.Info = "Password changed", "Your password has been changed and every session signed out. Sign in with the new password."
	return p.render(c, fiber.StatusOK, PageMessage, v)
}

func (p *Pages) verify(c *fiber.Ctx, v *View, r Request) error {
	if c.Method() != fiber.MethodPost {
		// A GET spends nothing: mail scanners open links.
		v.Token = c.Query("token")
		if _, _, e := account.CheckOneTime(v.Token); e != nil {
			v.Done, v.Error = true, "This link is not valid."
			return p.render(c, fiber.StatusBadRequest, PageVerify, v)
		}
		return p.render(c, fiber.StatusOK, PageVerify, v)
	}
	v.Token = form(c).Get("token")
	ctx, cancel := p.ctx(c)
	defer cancel()
	if _, err := p.acct.VerifyEmail(ctx, v.Token); err != nil {
		status, _ := p.refused(c, v, err)
		v.Done, v.Error = true, "This link is invalid, expired or already used."
		return p.render(c, status, PageVerify, v)
	}
	v.Title, v.Info = "Email address confirmed", "Thank you: your email address is confirmed."
	return p.render(c, fiber.StatusOK, PageMessage, v)
}

func (p *Pages) password(c *fiber.Ctx, v *View, r Request) error {
	if r.Claims == nil {
		return see(c, p.SignInURL(p.Path(PagePassword)))
	}
	if r.Claims.Step != "" { // the second factor first
		return see(c, p.MFAURL(p.Path(PagePassword)))
	}
	v.Must = r.Claims.PasswordChange
	if c.Method() != fiber.MethodPost {
		return p.render(c, fiber.StatusOK, PagePassword, v)
	}
	f := form(c)
	ctx, cancel := p.ctx(c)
	defer cancel()
	cl := account.Client{IP: r.ClientIP}
	_, err := p.acct.ChangePassword(ctx, r.Claims, account.PasswordChange{Current: f.Get("current_password"), New: f.Get("new_password")}, cl)
	if err != nil {
		status, _ := p.refused(c, v, err, "current_password", "new_password")
		return p.render(c, status, PagePassword, v)
	}
	// The session's access token still says "must change": a refresh reads
	// the user again and drops the flag.
	pair, _, err := p.acct.Refresh(ctx, r.Refresh, cl)
	if err != nil {
		p.host.ClearSession(c)
		return see(c, p.SignInURL(v.Return))
	}
	p.host.SetSession(c, pair)
	return see(c, p.ret.Resolve(v.Return))
}

func (p *Pages) signOut(c *fiber.Ctx, v *View, r Request) error {
	if c.Method() != fiber.MethodPost {
		if r.Claims == nil {
			return see(c, p.Path(PageSigned))
		}
		return p.render(c, fiber.StatusOK, PageSignOut, v)
	}
	if r.Claims != nil {
		ctx, cancel := p.ctx(c)
		defer cancel()
		if err := p.acct.SignOut(ctx, r.Claims, false); err != nil {
			var e *account.Error
			if !errors.As(err, &e) {
				p.log.ErrorContext(c.UserContext(), "sign-out failed", "err", err.Error())
				v.Error = "Signing out failed. Please try again."
				return p.render(c, fiber.StatusServiceUnavailable, PageSignOut, v)
			}
		}
	}
	p.host.ClearSession(c)
	p.newCSRF(c, v)
	c.Set("Clear-Site-Data", `"cache"`)
	return see(c, p.Path(PageSigned))
}

func (p *Pages) signedOut(c *fiber.Ctx, v *View, _ Request) error {
	return p.render(c, fiber.StatusOK, PageSigned, v)
}
