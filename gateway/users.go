package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"authgate/auth"
	"authgate/store"
)

const (
	// defaultPageSize and maxPageSize bound GET /auth/users?limit=.
	defaultPageSize = 50
	maxPageSize     = 200
	// maxCursor bounds the after= cursor (a user ID).
	maxCursor = 256
)

// authorizeAdmin requires a full access token with users.admin_role. The
// roles come from the token: removing a role ends the user's sessions, so
// a token never carries a role its user has lost.
func (g *Gateway) authorizeAdmin(c *fiber.Ctx, rq *request) (*auth.Claims, error) {
	claims, err := g.authenticateFull(rq)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(claims.Roles, g.cfg.Users.AdminRole) {
		return nil, problem(ProblemForbidden, "requires the role "+g.cfg.Users.AdminRole)
	}
	return claims, nil
}

// targetID is the {id} of /auth/users/{id}.
func targetID(c *fiber.Ctx) string {
	id, _ := c.Locals(localID).(string)
	return id
}

func userNotFound() *Problem { return problem(ProblemNotFound, "no user has this id") }

type userPage struct {
	Users []userResponse `json:"users"`
	// Next is the after= of the next page; "" on the last page.
	Next string `json:"next"`
}

// listUsers is GET /auth/users?limit=&after=: users ordered by ID (so by
// creation), limit 1..200 (default 50; more is capped at 200).
func (g *Gateway) listUsers(c *fiber.Ctx, rq *request) error {
	if _, err := g.authorizeAdmin(c, rq); err != nil {
		return err
	}
	limit := defaultPageSize
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fieldProblem("limit", "must be a whole number from 1 to "+strconv.Itoa(maxPageSize))
		}
		limit = min(n, maxPageSize)
	}
	after := c.Query("after")
	if len(after) > maxCursor {
		return fieldProblem("after", "is not a cursor this gateway made")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	users, next, err := g.st.ListUsers(ctx, after, limit)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
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

// createUser is POST /auth/users. Email is optional; roles default to
// users.default_roles, active to true; the password policy applies. No
// mail is sent.
func (g *Gateway) createUser(c *fiber.Ctx, rq *request) error {
	if _, err := g.authorizeAdmin(c, rq); err != nil {
		return err
	}
	var in createUserRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	if p := usernameProblem(in.Username); p != nil {
		return p
	}
	if in.Email != "" {
		if p := emailProblem("email", in.Email); p != nil {
			return p
		}
	}
	if p := g.passwordProblem("password", in.Password, in.Username, in.Email); p != nil {
		return p
	}
	roles := slices.Clone(g.cfg.Users.DefaultRoles)
	if in.Roles != nil {
		var p *Problem
		if roles, p = cleanRoles("roles", *in.Roles); p != nil {
			return p
		}
	}
	u, err := g.newUser(c, in.Username, in.Email, in.Password, roles)
	if err != nil {
		return err
	}
	u.Active = in.Active == nil || *in.Active
	u.MustChangePassword = in.MustChangePassword
	u.EmailVerified = in.EmailVerified && in.Email != ""
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.st.CreateUser(ctx, u); err != nil {
		return takenProblem(fmt.Errorf("create user %q: %w", in.Username, err))
	}
	g.log.Info("user created", "user", u.ID, "by", rq.user)
	c.Location(g.cfg.Routes.Users + "/" + u.ID)
	return sendUser(c, fiber.StatusCreated, u)
}

// getUser is GET /auth/users/{id}.
func (g *Gateway) getUser(c *fiber.Ctx, rq *request) error {
	if _, err := g.authorizeAdmin(c, rq); err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	u, err := g.st.GetUser(ctx, targetID(c))
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	}
	if err != nil {
		return fmt.Errorf("get user: %w", err)
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

// patchUser is PATCH /auth/users/{id}: roles (replaced as a whole), active,
// must_change_password, password, email_verified. The user's sessions end
// (their access tokens refused on the next request) when the password is
// set, the account deactivated, a role removed, or must_change_password
// turned on; adding roles or verifying the email keeps them (the next
// refresh carries the new roles). An admin cannot deactivate themselves or
// drop their own admin role, and keeps their own session.
func (g *Gateway) patchUser(c *fiber.Ctx, rq *request) error {
	claims, err := g.authorizeAdmin(c, rq)
	if err != nil {
		return err
	}
	id := targetID(c)
	self := id == claims.Subject
	var in patchUserRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Roles == nil && in.Active == nil && in.MustChangePassword == nil && in.Password == nil && in.EmailVerified == nil {
		return problem(ProblemValidation, "send at least one of roles, active, must_change_password, password, email_verified")
	}
	var roles []string
	if in.Roles != nil {
		var p *Problem
		if roles, p = cleanRoles("roles", *in.Roles); p != nil {
			return p
		}
		if self && !slices.Contains(roles, g.cfg.Users.AdminRole) {
			return fieldProblem("roles", "you cannot remove your own "+g.cfg.Users.AdminRole+" role; ask another admin")
		}
	}
	if self && in.Active != nil && !*in.Active {
		return fieldProblem("active", "you cannot deactivate your own account; ask another admin")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	old, err := g.st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	}
	if err != nil {
		return fmt.Errorf("patch user: %w", err)
	}
	var hash string
	if in.Password != nil {
		if p := g.passwordProblem("password", *in.Password, old.Username, old.Email); p != nil {
			return p
		}
		if hash, err = g.hashPassword(c, *in.Password); err != nil {
			return err
		}
		if err := g.dropOneTime(ctx, purposeReset, id); err != nil {
			return err
		}
	}
	var end bool
	u, err := g.modifyUser(ctx, id, func(u *store.User) error {
		if in.Roles != nil {
			end = end || slices.ContainsFunc(u.Roles, func(r string) bool { return !slices.Contains(roles, r) })
			u.Roles = roles
		}
		if in.Active != nil {
			end = end || (u.Active && !*in.Active)
			u.Active = *in.Active
		}
		if in.MustChangePassword != nil {
			end = end || (!u.MustChangePassword && *in.MustChangePassword)
			u.MustChangePassword = *in.MustChangePassword
		}
		if in.Password != nil {
			end = true
			u.PasswordHash = hash
		}
		if in.EmailVerified != nil {
			u.EmailVerified = *in.EmailVerified && u.Email != ""
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	}
	if err != nil {
		return fmt.Errorf("patch user: %w", err)
	}
	if end {
		keep := ""
		if self {
			keep = claims.SessionID
		}
		if err := g.sessions.EndAll(ctx, id, keep); err != nil {
			return fmt.Errorf("patch user: end sessions: %w", err)
		}
	}
	g.log.Info("user updated", "user", id, "by", claims.Subject, "sessions_ended", end)
	return sendUser(c, fiber.StatusOK, u)
}

// deleteUser is DELETE /auth/users/{id}: the account is first deactivated
// (no new logins or refreshes), then its sessions end, then it is deleted;
// a failure part way leaves an inactive account that a retry deletes. An
// admin cannot delete themselves.
func (g *Gateway) deleteUser(c *fiber.Ctx, rq *request) error {
	claims, err := g.authorizeAdmin(c, rq)
	if err != nil {
		return err
	}
	id := targetID(c)
	if id == claims.Subject {
		return problem(ProblemValidation, "you cannot delete your own account; ask another admin")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	_, err = g.modifyUser(ctx, id, func(u *store.User) error {
		u.Active = false
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	}
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := g.sessions.EndAll(ctx, id, ""); err != nil {
		return fmt.Errorf("delete user: end sessions: %w", err)
	}
	if err := g.st.DeleteUser(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete user: %w", err)
	}
	g.log.Info("user deleted", "user", id, "by", claims.Subject)
	return c.SendStatus(fiber.StatusNoContent)
}
