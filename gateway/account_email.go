package gateway

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"authgate/store"
)

// acceptedStatus is the one answer of the routes that may send a mail.
const acceptedStatus = "accepted"

type emailRequest struct {
	Email string `json:"email"`
}

// decodeEmail reads {"email"} and checks its syntax (which says nothing
// about accounts).
func (g *Gateway) decodeEmail(c *fiber.Ctx) (string, error) {
	var in emailRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return "", err
	}
	if p := emailProblem("email", in.Email); p != nil {
		return "", p
	}
	return in.Email, nil
}

// requestVerification is POST /auth/verify-email/request. It answers 202
// with the same body whether an account has the address, has already
// verified it, or none has; only an active account with the address
// unverified gets a mail. Rate limits count every request alike.
func (g *Gateway) requestVerification(c *fiber.Ctx, rq *request) error {
	return g.mailLinkRequest(c, rq, purposeVerify, "verification request", func(u store.User) bool {
		return u.Active && !u.EmailVerified
	})
}

// mailLinkRequest is the shared body of the routes that mail a one-time
// link to an address: the same 202 whatever the address, rate limits counted
// alike, and a mail only to an account that wants it.
func (g *Gateway) mailLinkRequest(c *fiber.Ctx, rq *request, purpose, what string, wants func(store.User) bool) error {
	email, err := g.decodeEmail(c)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.takeMailLimits(ctx, c, rq, email); err != nil {
		return err
	}
	u, err := g.st.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case wants(u):
		g.sendLink(c, purpose, u, u.Email)
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
	uid, secret, p := splitOneTime(in.Token)
	if p != nil {
		return p
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.consumeOneTime(ctx, purposeVerify, uid, secret); err != nil {
		return err
	}
	_, err := g.modifyUser(ctx, uid, func(u *store.User) error {
		u.EmailVerified = true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return invalidOneTime()
	}
	if err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	rq.user = uid
	return sendStatus(c, fiber.StatusOK, "email verified")
}
