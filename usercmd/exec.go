package usercmd

import (
	"context"
	"fmt"
	"time"

	"authgate/account"
	"authgate/auth"
	"authgate/store"
)

// Request is one command, as the command line builds it and as it travels
// over the control socket.
type Request struct {
	Op string `json:"op"`
	// User names the target by username or ID (all but add and list).
	User string `json:"user,omitempty"`
	// Actor is who runs the command ("cli:<os user>"), for the logs.
	Actor string `json:"actor"`

	// add
	Username      string `json:"username,omitempty"`
	Email         string `json:"email,omitempty"`
	Inactive      bool   `json:"inactive,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	// add, set-password
	Password           string `json:"password,omitempty"`
	MustChangePassword bool   `json:"must_change_password,omitempty"`
	// add (nil: users.default_roles), set-roles
	Roles *[]string `json:"roles,omitempty"`
	// list
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// View is a user as the command shows it: the admin API's user document,
// never with the password hash.
type View struct {
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

func viewOf(u store.User) *View {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return &View{ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles, Active: u.Active,
		EmailVerified: u.EmailVerified, MustChangePassword: u.MustChangePassword,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// Result is a command's answer. Refused carries an account refusal (bad
// input, unknown user); a failure to run (store down) is an error instead.
type Result struct {
	User    *View          `json:"user,omitempty"`
	Users   []View         `json:"users,omitempty"`
	Next    string         `json:"next,omitempty"`
	Refused *account.Error `json:"refused,omitempty"`
}

// Ops are the commands, in the order the usage lists them.
var Ops = []string{"add", "list", "show", "set-password", "set-roles", "disable", "enable", "delete", "revoke-sessions", "reset-mfa"}

// Execute runs req on svc. The command line calls it with a service on the
// store it opened; the gateway calls it for requests on its control socket.
func Execute(ctx context.Context, svc *account.Service, req Request) (Result, error) {
	res, err := execute(ctx, svc, req)
	if e, ok := account.AsError(err); ok {
		return Result{Refused: e}, nil
	}
	return res, err
}

func execute(ctx context.Context, svc *account.Service, req Request) (Result, error) {
	// The acting admin: never a user ID, so the API's "not yourself"
	// checks (which keep an admin from locking themselves out) do not
	// apply to the shell, whose user can always get back in.
	by := &auth.Claims{}
	by.Subject = req.Actor
	switch req.Op {
	case "add":
		active := !req.Inactive
		u, err := svc.CreateUser(ctx, account.NewUser{
			Username: req.Username, Email: req.Email, Password: req.Password, Roles: req.Roles,
			Active: &active, MustChangePassword: req.MustChangePassword, EmailVerified: req.EmailVerified,
		}, req.Actor)
		if err != nil {
			return Result{}, err
		}
		return Result{User: viewOf(u)}, nil
	case "list":
		limit := req.Limit
		if limit <= 0 {
			limit = account.DefaultPageSize
		}
		users, next, err := svc.ListUsers(ctx, req.After, limit)
		if err != nil {
			return Result{}, err
		}
		res := Result{Users: make([]View, 0, len(users)), Next: next}
		for _, u := range users {
			res.Users = append(res.Users, *viewOf(u))
		}
		return res, nil
	}
	u, err := svc.FindUser(ctx, req.User)
	if err != nil {
		return Result{}, err
	}
	var ch account.UserChange
	switch req.Op {
	case "show":
		return Result{User: viewOf(u)}, nil
	case "set-password":
		ch.Password = &req.Password
		ch.MustChangePassword = &req.MustChangePassword
	case "set-roles":
		if req.Roles == nil {
			return Result{}, &account.Error{Kind: account.KindValidation, Field: "roles", Detail: "roles: name at least one role"}
		}
		ch.Roles = req.Roles
	case "disable", "enable":
		active := req.Op == "enable"
		ch.Active = &active
	case "delete":
		if err := svc.DeleteUser(ctx, by, u.ID); err != nil {
			return Result{}, err
		}
		return Result{User: viewOf(u)}, nil
	case "revoke-sessions":
		if err := svc.RevokeSessions(ctx, u.ID, req.Actor); err != nil {
			return Result{}, err
		}
		return Result{User: viewOf(u)}, nil
	case "reset-mfa":
		if err := svc.ResetSecondFactorsBy(ctx, u.ID, req.Actor); err != nil {
			return Result{}, err
		}
		return Result{User: viewOf(u)}, nil
	default:
		return Result{}, &account.Error{Kind: account.KindValidation, Field: "op", Detail: fmt.Sprintf("op: unknown command %q", req.Op)}
	}
	u, err = svc.PatchUser(ctx, by, u.ID, ch)
	if err != nil {
		return Result{}, err
	}
	return Result{User: viewOf(u)}, nil
}
