package gateway

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"authgate/account"
	"authgate/auth"
)

// authorizeAdmin requires a full access token with users.admin_role.
func (g *Gateway) authorizeAdmin(rq *request) (*auth.Claims, error) {
	claims, err := g.authenticateFull(rq)
	if err != nil {
		return nil, err
	}
	if err := g.acct.Admin(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// targetID is the {id} of /auth/users/{id}.
func targetID(c *fiber.Ctx) string {
	id, _ := c.Locals(localID).(string)
	return id
}

type userPage struct {
	Users []userResponse `json:"users"`
	// Next is the after= of the next page; "" on the last page.
	Next string `json:"next"`
}

// listUsers is GET /auth/users?limit=&after=: users ordered by ID (so by
// creation), limit 1..200 (default 50; more is capped at 200).
func (g *Gateway) listUsers(c *fiber.Ctx, rq *request) error {
	if _, err := g.authorizeAdmin(rq); err != nil {
		return err
	}
	limit := account.DefaultPageSize
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fieldProblem("limit", "must be a whole number from 1 to "+strconv.Itoa(account.MaxPageSize))
		}
		limit = n
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	users, next, err := g.acct.ListUsers(ctx, c.Query("after"), limit)
	if err != nil {
		return err
	}
	page := userPage{Users: make([]userResponse, 0, len(users)), Next: next}
	for _, u := range users {
		page.Users = append(page.Users, userFrom(u))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(page)
}

type createUserRequest struct {
	Username           string    `json:"username"`
	Email              string    `json:"email"`
	Password           string    `json:"password"`
	Roles              *[]string `json:"roles"`
	Active             *bool     `json:"active"`
	MustChangePassword bool      `json:"must_change_password"`
	EmailVerified      bool      `json:"email_verified"`
}

// createUser is POST /auth/users (account.CreateUser).
func (g *Gateway) createUser(c *fiber.Ctx, rq *request) error {
	if _, err := g.authorizeAdmin(rq); err != nil {
		return err
	}
	var in createUserRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.acct.CreateUser(ctx, account.NewUser(in), rq.user)
	if err != nil {
		return err
	}
	c.Location(g.cfg.Routes.Users + "/" + u.ID)
	return sendUser(c, fiber.StatusCreated, u)
}

// getUser is GET /auth/users/{id}.
func (g *Gateway) getUser(c *fiber.Ctx, rq *request) error {
	if _, err := g.authorizeAdmin(rq); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.acct.GetUser(ctx, targetID(c))
	if err != nil {
		return err
	}
	return sendUser(c, fiber.StatusOK, u)
}

type patchUserRequest struct {
	Roles              *[]string `json:"roles"`
	Active             *bool     `json:"active"`
	MustChangePassword *bool     `json:"must_change_password"`
	Password           *string   `json:"password"`
	EmailVerified      *bool     `json:"email_verified"`
}

// patchUser is PATCH /auth/users/{id} (account.PatchUser).
func (g *Gateway) patchUser(c *fiber.Ctx, rq *request) error {
	claims, err := g.authorizeAdmin(rq)
	if err != nil {
		return err
	}
	var in patchUserRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.acct.PatchUser(ctx, claims, targetID(c), account.UserChange(in))
	if err != nil {
		return err
	}
	return sendUser(c, fiber.StatusOK, u)
}

// deleteUser is DELETE /auth/users/{id} (account.DeleteUser).
func (g *Gateway) deleteUser(c *fiber.Ctx, rq *request) error {
	claims, err := g.authorizeAdmin(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.acct.DeleteUser(ctx, claims, targetID(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
