package gateway

import (
	"errors"
	"fmt"
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"

	"authgate/auth"
	"authgate/store"
)

// forgotPassword is POST /auth/forgot-password. Like the verification
// request it answers 202 with the same body whatever the address; only an
// active account with the address gets a reset mail.
func (g *Gateway) forgotPassword(c *fiber.Ctx, rq *request) error {
	return g.mailLinkRequest(c, rq, purposeReset, "password reset request", func(u store.User) bool {
		return u.Active
	})
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// resetPassword is POST /auth/reset-password {"token","password"} (JSON, or
// a form from resetForm). The policy is checked before the token is spent,
// so a refused password leaves the link usable. A reset ends every session
// of the user and clears must_change_password.
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
	uid, secret, p := splitOneTime(in.Token)
	if p != nil {
		return p
	}
	if in.Password == "" {
		return fieldProblem("password", "is required")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.st.GetUser(ctx, uid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return invalidOneTime()
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if p := g.passwordProblem("password", in.Password, u.Username, u.Email); p != nil {
		return p
	}
	hash, err := g.hashPassword(c, in.Password)
	if err != nil {
		return err
	}
	if err := g.consumeOneTime(ctx, purposeReset, uid, secret); err != nil {
		return err
	}
	u, err = g.modifyUser(ctx, uid, func(u *store.User) error {
		u.PasswordHash, u.MustChangePassword = hash, false
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return invalidOneTime()
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	rq.user = u.ID
	if err := g.sessions.EndAll(ctx, u.ID, ""); err != nil {
		return fmt.Errorf("reset password: end sessions: %w", err)
	}
	g.log.Info("password reset", "user", u.ID)
	return sendStatus(c, fiber.StatusOK, "password reset")
}

// resetPage is the minimal form behind the default reset_url. Applications
// that have their own page set mail.reset_url to it.
var resetPage = template.Must(template.New("reset").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Choose a new password</title></head>
<body>
<h1>Choose a new password</h1>
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<p><label>New password <input type="password" name="password" autocomplete="new-password" minlength="{{.Min}}" maxlength="{{.Max}}" required></label></p>
<p><button type="submit">Set password</button></p>
</form>
</body>
</html>
`))

// resetForm is GET /auth/reset-password?token=: a form that posts the token
// and the new password to this route. It spends nothing.
func (g *Gateway) resetForm(c *fiber.Ctx, _ *request) error {
	tok := c.Query("token")
	if _, _, p := splitOneTime(tok); p != nil {
		return p
	}
	var b strings.Builder
	err := resetPage.Execute(&b, struct {
		Action, Token string
		Min, Max      int
	}{g.cfg.Routes.ResetPassword, tok, g.cfg.Passwords.MinLength, g.cfg.Passwords.MaxLength})
	if err != nil {
		return fmt.Errorf("reset form: %w", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.SendString(b.String())
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword is POST /auth/password. A must-change token is accepted
// (that is what it is for). The current password is checked (attempts count
// against rate_limits.login_per_username); the user's other sessions end;
// the calling session stays, and its next refresh gets a token without the
// must-change flag, since refresh reads the user record.
func (g *Gateway) changePassword(c *fiber.Ctx, rq *request) error {
	claims, err := g.authenticate(rq)
	if err != nil {
		return err
	}
	var in changePasswordRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.CurrentPassword == "" {
		return fieldProblem("current_password", "is required")
	}
	if len(in.CurrentPassword) > 4*g.cfg.Passwords.MaxLength {
		return problem(ProblemPasswordTooLong, "the password is longer than any this gateway accepts")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.st.GetUser(ctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return problem(ProblemInvalidToken, "the token's user no longer exists or is inactive")
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if p := g.passwordProblem("new_password", in.NewPassword, u.Username, u.Email); p != nil {
		return p
	}
	if in.NewPassword == in.CurrentPassword {
		return &Problem{Type: ProblemWeakPassword, Field: "new_password", Detail: "new_password: must differ from the current password"}
	}
	if p, err := g.loginUser.take(ctx, c, store.Fold(u.Username), g.now()); err != nil || p != nil {
		if p != nil {
			g.metrics.rateLimited.WithLabelValues(g.loginUser.name).Inc()
			return p
		}
		return err
	}
	ok, _, err := g.hasher.Verify(ctx, u.PasswordHash, in.CurrentPassword)
	if errors.Is(err, auth.ErrBadHash) {
		g.log.Error("stored password hash is malformed", "user", u.ID)
		ok, err = false, nil
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		return problem(ProblemInvalidCredentials, "the current password is wrong")
	}
	hash, err := g.hashPassword(c, in.NewPassword)
	if err != nil {
		return err
	}
	// A reset link mailed before the change must not undo it; dropped
	// first, so that a failure leaves nothing half done.
	if err := g.dropOneTime(ctx, purposeReset, u.ID); err != nil {
		return err
	}
	u, err = g.modifyUser(ctx, u.ID, func(u *store.User) error {
		u.PasswordHash, u.MustChangePassword = hash, false
		return nil
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := g.sessions.EndAll(ctx, u.ID, claims.SessionID); err != nil {
		return fmt.Errorf("change password: end other sessions: %w", err)
	}
	g.log.Info("password changed", "user", u.ID)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStatus(fiber.StatusNoContent)
}
