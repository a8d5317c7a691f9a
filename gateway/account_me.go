package gateway

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"authgate/store"
)

type patchMeRequest struct {
	Username *string `json:"username"`
	Email    *string `json:"email"`
}

// patchMe is PATCH /me {"username"?, "email"?}: a full token is required.
// A new address (other than by case or width) is unverified: a
// verification mail goes to it, reset links mailed to the old address stop
// working, and the change counts against the mail rate limits. Tokens
// already issued carry the old name and email until the next refresh.
func (g *Gateway) patchMe(c *fiber.Ctx, rq *request) error {
	claims, err := g.authenticateFull(rq)
	if err != nil {
		return err
	}
	var in patchMeRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Username == nil && in.Email == nil {
		return problem(ProblemValidation, "send username, email or both")
	}
	if in.Username != nil {
		if p := usernameProblem(*in.Username); p != nil {
			return p
		}
	}
	if in.Email != nil {
		if p := emailProblem("email", *in.Email); p != nil {
			return p
		}
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	cur, err := g.st.GetUser(ctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return problem(ProblemInvalidToken, "the token's user no longer exists")
	}
	if err != nil {
		return fmt.Errorf("patch me: %w", err)
	}
	if in.Username != nil && *in.Username == cur.Username {
		return fieldProblem("username", "is already your username")
	}
	if in.Email != nil && *in.Email == cur.Email {
		return fieldProblem("email", "is already your email address")
	}
	newAddress := in.Email != nil && store.Fold(*in.Email) != store.Fold(cur.Email)
	if newAddress {
		if err := g.takeMailLimits(ctx, c, rq, *in.Email); err != nil {
			return err
		}
		// Links mailed to the old address must not act on the new one.
		for _, purpose := range []string{purposeReset, purposeVerify} {
			if err := g.dropOneTime(ctx, purpose, cur.ID); err != nil {
				return err
			}
		}
	}
	u, err := g.modifyUser(ctx, cur.ID, func(u *store.User) error {
		if in.Username != nil {
			u.Username = *in.Username
		}
		if in.Email != nil {
			u.Email = *in.Email
		}
		if newAddress {
			u.EmailVerified = false
		}
		return nil
	})
	if err != nil {
		return takenProblem(fmt.Errorf("patch me: %w", err))
	}
	if newAddress {
		g.sendLink(c, purposeVerify, u, u.Email)
	}
	return sendUser(c, fiber.StatusOK, u)
}
