package account

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"authgate/audit"
	"authgate/auth"
	"authgate/store"
)

const (
	// DefaultPageSize and MaxPageSize bound a page of ListUsers.
	DefaultPageSize = 50
	MaxPageSize     = 200
	// maxCursor bounds the after cursor (a user ID).
	maxCursor = 256
)

// Admin checks that claims carry users.admin_role. The roles come from the
// token: removing a role ends the user's sessions, so a token never carries
// a role its user has lost.
func (s *Service) Admin(claims *auth.Claims) error {
	if !slices.Contains(claims.Roles, s.cfg.Users.AdminRole) {
		return refuse(KindForbidden, "requires the role "+s.cfg.Users.AdminRole)
	}
	return nil
}

// ListUsers is a page of users ordered by ID (so by creation): limit is
// capped at MaxPageSize; next is the after of the next page, "" on the last.
func (s *Service) ListUsers(ctx context.Context, after string, limit int) ([]store.User, string, error) {
	if len(after) > maxCursor {
		return nil, "", fieldErr("after", "is not a cursor this gateway made")
	}
	users, next, err := s.st.ListUsers(ctx, after, min(limit, MaxPageSize))
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	return users, next, nil
}

// NewUser is an account made by an admin.
type NewUser struct {
	Username, Email, Password         string
	Roles                             *[]string // nil: users.default_roles
	Active                            *bool     // nil: true
	MustChangePassword, EmailVerified bool
}

// CreateUser makes an account. Email is optional; the password policy
// applies. No mail is sent.
func (s *Service) CreateUser(ctx context.Context, in NewUser, by string) (store.User, error) {
	if e := CheckUsername(in.Username); e != nil {
		return store.User{}, e
	}
	if in.Email != "" {
		if e := CheckEmail("email", in.Email); e != nil {
			return store.User{}, e
		}
	}
	if e := s.CheckPassword("password", in.Password, in.Username, in.Email); e != nil {
		return store.User{}, e
	}
	roles := slices.Clone(s.cfg.Users.DefaultRoles)
	if in.Roles != nil {
		var e *Error
		if roles, e = CleanRoles("roles", *in.Roles); e != nil {
			return store.User{}, e
		}
	}
	u, err := s.newUser(ctx, in.Username, in.Email, in.Password, roles)
	if err != nil {
		return store.User{}, err
	}
	u.Active = in.Active == nil || *in.Active
	u.MustChangePassword = in.MustChangePassword
	u.EmailVerified = in.EmailVerified && in.Email != ""
	if err := s.st.CreateUser(ctx, u); err != nil {
		return store.User{}, takenErr(fmt.Errorf("create user %q: %w", in.Username, err))
	}
	s.log.InfoContext(ctx, "user created", "user", u.ID, "by", by)
	s.audit.Log(ctx, audit.Event{Event: audit.UserCreated, User: u.ID, Username: u.Username, Actor: by, Outcome: audit.Success})
	return u, nil
}

// GetUser is one user by ID.
func (s *Service) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := s.st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, userNotFound()
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// UserChange is an admin's change of a user; nil fields stay.
type UserChange struct {
	Roles              *[]string
	Active             *bool
	MustChangePassword *bool
	Password           *string
	EmailVerified      *bool
}

// fields names the fields a change touches, for the audit log (never
// their values).
func (in UserChange) fields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"roles", in.Roles != nil}, {"active", in.Active != nil}, {"must_change_password", in.MustChangePassword != nil},
		{"password", in.Password != nil}, {"email_verified", in.EmailVerified != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// PatchUser changes roles (replaced as a whole), active,
// must_change_password, password, email_verified. The user's sessions end
// (their access tokens refused on the next request) when the password is
// set, the account deactivated, a role removed, or must_change_password
// turned on; adding roles or verifying the email keeps them (the next
// refresh carries the new roles). An admin cannot deactivate themselves or
// drop their own admin role, and keeps their own session.
func (s *Service) PatchUser(ctx context.Context, claims *auth.Claims, id string, in UserChange) (store.User, error) {
	self := id == claims.Subject
	if in.Roles == nil && in.Active == nil && in.MustChangePassword == nil && in.Password == nil && in.EmailVerified == nil {
		return store.User{}, refuse(KindValidation, "send at least one of roles, active, must_change_password, password, email_verified")
	}
	var roles []string
	if in.Roles != nil {
		var e *Error
		if roles, e = CleanRoles("roles", *in.Roles); e != nil {
			return store.User{}, e
		}
		if self && !slices.Contains(roles, s.cfg.Users.AdminRole) {
			return store.User{}, fieldErr("roles", "you cannot remove your own "+s.cfg.Users.AdminRole+" role; ask another admin")
		}
	}
	if self && in.Active != nil && !*in.Active {
		return store.User{}, fieldErr("active", "you cannot deactivate your own account; ask another admin")
	}
	old, err := s.st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, userNotFound()
	}
	if err != nil {
		return store.User{}, fmt.Errorf("patch user: %w", err)
	}
	var hash string
	if in.Password != nil {
		if e := s.CheckPassword("password", *in.Password, old.Username, old.Email); e != nil {
			return store.User{}, e
		}
		if hash, err = s.hashPassword(ctx, *in.Password); err != nil {
			return store.User{}, err
		}
		if err := s.dropOneTime(ctx, purposeReset, id); err != nil {
			return store.User{}, err
		}
	}
	var end bool
	u, err := s.modifyUser(ctx, id, func(u *store.User) error {
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
		return store.User{}, userNotFound()
	}
	if err != nil {
		return store.User{}, fmt.Errorf("patch user: %w", err)
	}
	if end {
		keep := ""
		if self {
			keep = claims.SessionID
		}
		if err := s.sessions.EndAll(ctx, id, keep); err != nil {
			return store.User{}, fmt.Errorf("patch user: end sessions: %w", err)
		}
	}
	s.log.InfoContext(ctx, "user updated", "user", id, "by", claims.Subject, "sessions_ended", end)
	ev := audit.Event{Event: audit.UserUpdated, User: id, Username: u.Username, Actor: claims.Subject, Outcome: audit.Success, Changes: in.fields()}
	if end {
		ev.Reason = "sessions_ended"
	}
	s.audit.Log(ctx, ev)
	return u, nil
}

// DeleteUser first deactivates the account (no new logins or refreshes),
// then ends its sessions, then deletes it; a failure part way leaves an
// inactive account that a retry deletes. An admin cannot delete themselves.
func (s *Service) DeleteUser(ctx context.Context, claims *auth.Claims, id string) error {
	if id == claims.Subject {
		return refuse(KindValidation, "you cannot delete your own account; ask another admin")
	}
	_, err := s.modifyUser(ctx, id, func(u *store.User) error {
		u.Active = false
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	}
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := s.sessions.EndAll(ctx, id, ""); err != nil {
		return fmt.Errorf("delete user: end sessions: %w", err)
	}
	if err := s.st.DeleteUser(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete user: %w", err)
	}
	s.log.InfoContext(ctx, "user deleted", "user", id, "by", claims.Subject)
	s.audit.Log(ctx, audit.Event{Event: audit.UserDeleted, User: id, Actor: claims.Subject, Outcome: audit.Success, Reason: "sessions_ended"})
	return nil
}

// FindUser is one user by ID or, when no user has that ID, by username
// (compared as usernames are: case- and width-insensitively). It is how the
// command line names users.
func (s *Service) FindUser(ctx context.Context, ref string) (store.User, error) {
	if ref == "" {
		return store.User{}, fieldErr("user", "name a user by username or id")
	}
	u, err := s.st.GetUser(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		u, err = s.st.GetUserByUsername(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, refuse(KindNotFound, "no user has this username or id")
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// RevokeSessions ends every session of the user: their access tokens are
// refused on the next request on every instance sharing the store, their
// refresh tokens answer 401. The account itself is unchanged.
func (s *Service) RevokeSessions(ctx context.Context, id, by string) error {
	if _, err := s.GetUser(ctx, id); err != nil {
		return err
	}
	if err := s.sessions.EndAll(ctx, id, ""); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	s.log.InfoContext(ctx, "user sessions revoked", "user", id, "by", by)
	s.audit.Log(ctx, audit.Event{Event: audit.SessionsRevoked, User: id, Actor: by, Outcome: audit.Success})
	return nil
}
