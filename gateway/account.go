package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/mail"
	"authgate/store"
)

// Mailer sends the account flows' mails (mail.SMTPMailer, mail.LogMailer).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

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

// modifyUser loads the user, applies change and stores the result with a
// new UpdatedAt. The store has no compare-and-swap: loading right before
// writing keeps the window for a lost concurrent update short. Errors of
// change are returned as they are; store errors are wrapped.
func (g *Gateway) modifyUser(ctx context.Context, id string, change func(u *store.User) error) (store.User, error) {
	u, err := g.st.GetUser(ctx, id)
	if err != nil {
		return store.User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	if err := change(&u); err != nil {
		return store.User{}, err
	}
	u.UpdatedAt = g.now().UTC()
	if err := g.st.UpdateUser(ctx, u); err != nil {
		return store.User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	return u, nil
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
