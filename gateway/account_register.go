package gateway

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"

	"authgate/auth"
	"authgate/store"
)

type registerRequest struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// register is POST /auth/register: self-registration with the default
// roles. The new account's email is unverified and a verification mail is
// sent. It counts against the mail rate limits.
func (g *Gateway) register(c *fiber.Ctx, rq *request) error {
	if !g.cfg.Users.Registration {
		return problem(ProblemRegistrationOff, "self-registration is disabled; ask an administrator for an account")
	}
	var in registerRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	if p := usernameProblem(in.Username); p != nil {
		return p
	}
	if p := emailProblem("email", in.Email); p != nil {
		return p
	}
	if p := g.passwordProblem("password", in.Password, in.Username, in.Email); p != nil {
		return p
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.takeMailLimits(ctx, c, rq, in.Email); err != nil {
		return err
	}
	u, err := g.newUser(c, in.Username, in.Email, in.Password, slices.Clone(g.cfg.Users.DefaultRoles))
	if err != nil {
		return err
	}
	u.Active = true
	if err := g.st.CreateUser(ctx, u); err != nil {
		return takenProblem(fmt.Errorf("register %q: %w", in.Username, err))
	}
	rq.user = u.ID
	g.log.Info("user registered", "user", u.ID)
	g.sendLink(c, purposeVerify, u, u.Email)
	return sendUser(c, fiber.StatusCreated, u)
}

// newUser builds (but does not store) an inactive user with a fresh ID and
// the argon2id hash of password.
func (g *Gateway) newUser(c *fiber.Ctx, username, email, password string, roles []string) (store.User, error) {
	hash, err := g.hashPassword(c, password)
	if err != nil {
		return store.User{}, err
	}
	id, err := auth.NewUserID()
	if err != nil {
		return store.User{}, err
	}
	now := g.now().UTC()
	return store.User{
		ID: id, Username: username, Email: email, PasswordHash: hash, Roles: roles,
		CreatedAt: now, UpdatedAt: now,
	}, nil
}

// hashPassword hashes a new password that passed the policy.
func (g *Gateway) hashPassword(c *fiber.Ctx, password string) (string, error) {
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	hash, err := g.hasher.Hash(ctx, password)
	if errors.Is(err, auth.ErrPasswordTooLong) {
		return "", problem(ProblemPasswordTooLong, "the password is longer than any this gateway accepts")
	}
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}
