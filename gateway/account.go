package gateway

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ulule/limiter/v3"

	"authgate/account"
	"authgate/mail"
	"authgate/store"
)

// Mailer sends the account flows' mails (mail.SMTPMailer, mail.LogMailer).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// The JSON routes of the account flows are thin: they decode the request,
// call package account and write its answer. The flows themselves (and
// their policies) live in package account.

// accountRoutes adds the account flows and the admin user management
// (SPEC section 3). PATCH /me is registered with the me route (routes.go).
func (g *Gateway) accountRoutes(t *routeTable) {
	r := g.cfg.Routes
	t.add(r.Register, "register", map[string]handler{"POST": g.register})
	t.add(r.VerifyEmailReq, "verify_email_request", map[string]handler{"POST": g.requestVerification})
	// GET serves the link of the default verify_url, which points here.
	t.add(r.VerifyEmail, "verify_email", map[string]handler{"GET": g.verifyEmail, "POST": g.verifyEmail})
	t.add(r.ForgotPassword, "forgot_password", map[string]handler{"POST": g.forgotPassword})
	// GET serves a minimal form for the link of the default reset_url.
	t.add(r.ResetPassword, "reset_password", map[string]handler{"GET": g.resetForm, "POST": g.resetPassword})
	t.add(r.ChangePassword, "change_password", map[string]handler{"POST": g.changePassword})
	t.add(r.Users, "users", map[string]handler{"GET": g.listUsers, "POST": g.createUser})
	t.prefix = r.Users + "/"
	t.byID = &route{
		name:    "user",
		methods: map[string]handler{"GET": g.getUser, "PATCH": g.patchUser, "DELETE": g.deleteUser},
		allow:   "GET, PATCH, DELETE",
	}
}

// client is what package account needs to know about the request: the
// client address, and RateLimit-* headers for every limit counted.
func (g *Gateway) client(c *fiber.Ctx, rq *request) account.Client {
	return account.Client{IP: rq.clientIP, Counted: func(lc limiter.Context) { setRateHeaders(c, lc, g.now()) }}
}

func setRateHeaders(c *fiber.Ctx, lc limiter.Context, now time.Time) {
	c.Set("RateLimit-Limit", strconv.FormatInt(lc.Limit, 10))
	c.Set("RateLimit-Remaining", strconv.FormatInt(lc.Remaining, 10))
	c.Set("RateLimit-Reset", strconv.Itoa(max(int(lc.Reset-now.Unix()), 1)))
}

// userResponse is a user as the account and admin routes show it: never
// with the password hash.
type userResponse struct {
	ID                 string    `json:"id"`
	Username           string    `json:"username"`
	Email              string    `json:"email"`
	Roles              []string  `json:"roles"`
	Active             bool      `json:"active"`
	EmailVerified      bool      `json:"email_verified"`
	MustChangePassword bool      `json:"must_change_password"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func userFrom(u store.User) userResponse {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userResponse{
		ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles, Active: u.Active,
		EmailVerified: u.EmailVerified, MustChangePassword: u.MustChangePassword,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
}

// statusResponse is the body of answers that carry no resource.
type statusResponse struct {
	Status string `json:"status"`
}

// sendUser answers with a user document.
func sendUser(c *fiber.Ctx, status int, u store.User) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(userFrom(u))
}

// sendStatus answers with {"status": s}.
func sendStatus(c *fiber.Ctx, status int, s string) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(statusResponse{Status: s})
}

// acceptedStatus is the one answer of the routes that may send a mail.
const acceptedStatus = "accepted"

type registerRequest struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// register is POST /auth/register: self-registration (account.Register).
func (g *Gateway) register(c *fiber.Ctx, rq *request) error {
	if !g.cfg.Users.Registration {
		return problem(ProblemRegistrationOff, "self-registration is disabled; ask an administrator for an account")
	}
	var in registerRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.acct.Register(ctx, account.Registration(in), g.client(c, rq))
	if err != nil {
		return err
	}
	rq.user = u.ID
	return sendUser(c, fiber.StatusCreated, u)
}

type emailRequest struct {
	Email string `json:"email"`
}

// requestVerification is POST /auth/verify-email/request. It answers 202
// with the same body whether an account has the address, has already
// verified it, or none has.
func (g *Gateway) requestVerification(c *fiber.Ctx, rq *request) error {
	return g.mailLinkRequest(c, rq, g.acct.RequestVerification)
}

// forgotPassword is POST /auth/forgot-password. Like the verification
// request it answers 202 with the same body whatever the address.
func (g *Gateway) forgotPassword(c *fiber.Ctx, rq *request) error {
	return g.mailLinkRequest(c, rq, g.acct.ForgotPassword)
}

func (g *Gateway) mailLinkRequest(c *fiber.Ctx, rq *request, flow func(context.Context, string, account.Client) error) error {
	var in emailRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := flow(ctx, in.Email, g.client(c, rq)); err != nil {
		return err
	}
	return sendStatus(c, fiber.StatusAccepted, acceptedStatus)
}

type tokenRequest struct {
	Token string `json:"token"`
}

// verifyEmail is POST /auth/verify-email {"token"}, and GET with ?token=
// for the mailed link: it spends the token and marks the address verified.
func (g *Gateway) verifyEmail(c *fiber.Ctx, rq *request) error {
	var in tokenRequest
	if c.Method() == fiber.MethodPost {
		if err := g.decodeJSON(c, &in); err != nil {
			return err
		}
	} else {
		in.Token = c.Query("token")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	uid, err := g.acct.VerifyEmail(ctx, in.Token)
	if err != nil {
		return err
	}
	rq.user = uid
	return sendStatus(c, fiber.StatusOK, "email verified")
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// resetPassword is POST /auth/reset-password {"token","password"} (JSON, or
// a form).
func (g *Gateway) resetPassword(c *fiber.Ctx, rq *request) error {
	var in resetRequest
	if mediaType(c) == fiber.MIMEApplicationForm {
		form, err := g.decodeForm(c)
		if err != nil {
			return err
		}
		in.Token, in.Password = form.Get("token"), form.Get("password")
	} else if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.acct.ResetPassword(ctx, in.Token, in.Password)
	if err != nil {
		return err
	}
	rq.user = u.ID
	return sendStatus(c, fiber.StatusOK, "password reset")
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword is POST /auth/password (account.ChangePassword). A
// must-change token is accepted.
func (g *Gateway) changePassword(c *fiber.Ctx, rq *request) error {
	claims, err := g.authenticate(rq)
	if err != nil {
		return err
	}
	var in changePasswordRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if _, err := g.acct.ChangePassword(ctx, claims, account.PasswordChange{Current: in.CurrentPassword, New: in.NewPassword}, g.client(c, rq)); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStatus(fiber.StatusNoContent)
}

type patchMeRequest struct {
	Username *string `json:"username"`
	Email    *string `json:"email"`
}

// patchMe is PATCH /me {"username"?, "email"?}: a full token is required
// (account.UpdateMe).
func (g *Gateway) patchMe(c *fiber.Ctx, rq *request) error {
	claims, err := g.authenticateFull(rq)
	if err != nil {
		return err
	}
	var in patchMeRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.acct.UpdateMe(ctx, claims, account.MeChange(in), g.client(c, rq))
	if err != nil {
		return err
	}
	return sendUser(c, fiber.StatusOK, u)
}
