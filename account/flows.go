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

// Registration is a self-registration.
type Registration struct {
	Username, Email, Password string
}

// Register creates an active account with users.default_roles and an
// unverified address, and mails a verification link. It counts against the
// mail rate limits.
func (s *Service) Register(ctx context.Context, in Registration, cl Client) (store.User, error) {
	if !s.cfg.Users.Registration {
		return store.User{}, refuse(KindRegistrationOff, "self-registration is disabled; ask an administrator for an account")
	}
	if e := CheckUsername(in.Username); e != nil {
		return store.User{}, e
	}
	if e := CheckEmail("email", in.Email); e != nil {
		return store.User{}, e
	}
	if e := s.CheckPassword("password", in.Password, in.Username, in.Email); e != nil {
		return store.User{}, e
	}
	if err := s.takeMailLimits(ctx, cl, in.Email); err != nil {
		return store.User{}, err
	}
	u, err := s.newUser(ctx, in.Username, in.Email, in.Password, slices.Clone(s.cfg.Users.DefaultRoles))
	if err != nil {
		return store.User{}, err
	}
	u.Active = true
	if err := s.st.CreateUser(ctx, u); err != nil {
		return store.User{}, takenErr(fmt.Errorf("register %q: %w", in.Username, err))
	}
	s.log.InfoContext(ctx, "user registered", "user", u.ID)
	s.audit.Log(ctx, audit.Event{Event: audit.Registered, User: u.ID, Username: u.Username, Actor: u.ID, Outcome: audit.Success})
	s.sendLink(ctx, purposeVerify, u, u.Email)
	return u, nil
}

// newUser builds (but does not store) an inactive user with a fresh ID and
// the argon2id hash of password.
func (s *Service) newUser(ctx context.Context, username, email, password string, roles []string) (store.User, error) {
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return store.User{}, err
	}
	id, err := auth.NewUserID()
	if err != nil {
		return store.User{}, err
	}
	now := s.now().UTC()
	return store.User{
		ID: id, Username: username, Email: email, PasswordHash: hash, Roles: roles,
		CreatedAt: now, UpdatedAt: now,
	}, nil
}

// RequestVerification mails a verification link to an active account whose
// address is unverified. It answers alike whatever the address (no error
// tells whether an account has it); rate limits count every request alike.
func (s *Service) RequestVerification(ctx context.Context, email string, cl Client) error {
	return s.mailLinkRequest(ctx, email, cl, purposeVerify, "verification request", func(u store.User) bool {
		return u.Active && !u.EmailVerified
	})
}

// ForgotPassword mails a reset link to an active account with the address,
// answering alike whatever the address.
func (s *Service) ForgotPassword(ctx context.Context, email string, cl Client) error {
	return s.mailLinkRequest(ctx, email, cl, purposeReset, "password reset request", func(u store.User) bool {
		return u.Active
	})
}

func (s *Service) mailLinkRequest(ctx context.Context, email string, cl Client, purpose, what string, wants func(store.User) bool) error {
	if e := CheckEmail("email", email); e != nil {
		return e
	}
	if err := s.takeMailLimits(ctx, cl, email); err != nil {
		return err
	}
	u, err := s.st.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case wants(u):
		s.sendLink(ctx, purpose, u, u.Email)
	}
	return nil
}

// VerifyEmail spends a verification token and marks the address verified;
// it returns the user's ID.
func (s *Service) VerifyEmail(ctx context.Context, token string) (string, error) {
	uid, secret, e := CheckOneTime(token)
	if e != nil {
		return "", e
	}
	if err := s.consumeOneTime(ctx, purposeVerify, uid, secret); err != nil {
		return "", err
	}
	u, err := s.modifyUser(ctx, uid, func(u *store.User) error {
		u.EmailVerified = true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", invalidOneTime()
	}
	if err != nil {
		return "", fmt.Errorf("verify email: %w", err)
	}
	s.audit.Log(ctx, audit.Event{Event: audit.EmailVerified, User: uid, Username: u.Username, Actor: uid, Outcome: audit.Success})
	return uid, nil
}

// ResetPassword sets a new password with a reset token. The policy is
// checked before the token is spent, so a refused password leaves the link
// usable. A reset ends every session of the user and clears
// must_change_password.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (store.User, error) {
	uid, secret, e := CheckOneTime(token)
	if e != nil {
		return store.User{}, e
	}
	if password == "" {
		return store.User{}, fieldErr("password", "is required")
	}
	u, err := s.st.GetUser(ctx, uid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return store.User{}, invalidOneTime()
	}
	if err != nil {
		return store.User{}, fmt.Errorf("reset password: %w", err)
	}
	if e := s.CheckPassword("password", password, u.Username, u.Email); e != nil {
		return store.User{}, e
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return store.User{}, err
	}
	if err := s.consumeOneTime(ctx, purposeReset, uid, secret); err != nil {
		return store.User{}, err
	}
	u, err = s.modifyUser(ctx, uid, func(u *store.User) error {
		u.PasswordHash, u.MustChangePassword = hash, false
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, invalidOneTime()
	}
	if err != nil {
		return store.User{}, fmt.Errorf("reset password: %w", err)
	}
	if err := s.sessions.EndAll(ctx, u.ID, ""); err != nil {
		return store.User{}, fmt.Errorf("reset password: end sessions: %w", err)
	}
	s.log.InfoContext(ctx, "password reset", "user", u.ID)
	s.audit.Log(ctx, audit.Event{Event: audit.PasswordReset, User: u.ID, Username: u.Username, Actor: u.ID, Outcome: audit.Success, Reason: "sessions_ended"})
	return u, nil
}

// PasswordChange is a change of one's own password.
type PasswordChange struct {
	Current, New string
}

// ChangePassword changes the password of the claims' user. A must-change
// token is accepted (that is what it is for). The current password is
// checked (attempts count against rate_limits.login_per_username); the
// user's other sessions end; the calling session stays, and its next
// refresh gets a token without the must-change flag, since refresh reads
// the user record.
func (s *Service) ChangePassword(ctx context.Context, claims *auth.Claims, in PasswordChange, cl Client) (store.User, error) {
	if in.Current == "" {
		return store.User{}, fieldErr("current_password", "is required")
	}
	if len(in.Current) > 4*s.cfg.Passwords.MaxLength {
		return store.User{}, &Error{Kind: KindPasswordTooLong, Field: "current_password", Detail: "the password is longer than any this gateway accepts"}
	}
	u, err := s.st.GetUser(ctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return store.User{}, refuse(KindInvalidToken, "the token's user no longer exists or is inactive")
	}
	if err != nil {
		return store.User{}, fmt.Errorf("change password: %w", err)
	}
	if e := s.CheckPassword("new_password", in.New, u.Username, u.Email); e != nil {
		return store.User{}, e
	}
	if in.New == in.Current {
		return store.User{}, weak("new_password", "must differ from the current password")
	}
	if err := s.take(ctx, s.loginUser, cl, store.Fold(u.Username)); err != nil {
		return store.User{}, err
	}
	ok, _, err := s.hasher.Verify(ctx, u.PasswordHash, in.Current)
	if errors.Is(err, auth.ErrBadHash) {
		s.log.ErrorContext(ctx, "stored password hash is malformed", "user", u.ID)
		ok, err = false, nil
	}
	if err != nil {
		return store.User{}, fmt.Errorf("change password: %w", err)
	}
	if !ok {
		s.audit.Log(ctx, audit.Event{Event: audit.PasswordChanged, User: u.ID, Username: u.Username, Actor: u.ID,
			Outcome: audit.Failure, Reason: "invalid_credentials", Session: claims.SessionID})
		return store.User{}, &Error{Kind: KindInvalidCredentials, Field: "current_password", Detail: "the current password is wrong"}
	}
	hash, err := s.hashPassword(ctx, in.New)
	if err != nil {
		return store.User{}, err
	}
	// A reset link mailed before the change must not undo it; dropped
	// first, so that a failure leaves nothing half done.
	if err := s.dropOneTime(ctx, purposeReset, u.ID); err != nil {
		return store.User{}, err
	}
	u, err = s.modifyUser(ctx, u.ID, func(u *store.User) error {
		u.PasswordHash, u.MustChangePassword = hash, false
		return nil
	})
	if err != nil {
		return store.User{}, fmt.Errorf("change password: %w", err)
	}
	if err := s.sessions.EndAll(ctx, u.ID, claims.SessionID); err != nil {
		return store.User{}, fmt.Errorf("change password: end other sessions: %w", err)
	}
	s.log.InfoContext(ctx, "password changed", "user", u.ID)
	s.audit.Log(ctx, audit.Event{Event: audit.PasswordChanged, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Reason: "other_sessions_ended", Session: claims.SessionID})
	return u, nil
}

// Me is the claims' user.
func (s *Service) Me(ctx context.Context, claims *auth.Claims) (store.User, error) {
	u, err := s.st.GetUser(ctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, refuse(KindInvalidToken, "the token's user no longer exists")
	}
	return u, err
}

// MeChange is a change of one's own record; nil fields stay.
type MeChange struct {
	Username *string
	Email    *string
}

// UpdateMe changes the claims' user's username and/or email. A new address
// (other than by case or width) is unverified: a verification mail goes to
// it, reset links mailed to the old address stop working, and the change
// counts against the mail rate limits. Tokens already issued carry the old
// name and email until the next refresh.
func (s *Service) UpdateMe(ctx context.Context, claims *auth.Claims, in MeChange, cl Client) (store.User, error) {
	if in.Username == nil && in.Email == nil {
		return store.User{}, refuse(KindValidation, "send username, email or both")
	}
	if in.Username != nil {
		if e := CheckUsername(*in.Username); e != nil {
			return store.User{}, e
		}
	}
	if in.Email != nil {
		if e := CheckEmail("email", *in.Email); e != nil {
			return store.User{}, e
		}
	}
	cur, err := s.st.GetUser(ctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, refuse(KindInvalidToken, "the token's user no longer exists")
	}
	if err != nil {
		return store.User{}, fmt.Errorf("patch me: %w", err)
	}
	if in.Username != nil && *in.Username == cur.Username {
		return store.User{}, fieldErr("username", "is already your username")
	}
	if in.Email != nil && *in.Email == cur.Email {
		return store.User{}, fieldErr("email", "is already your email address")
	}
	newAddress := in.Email != nil && store.Fold(*in.Email) != store.Fold(cur.Email)
	if newAddress {
		if err := s.takeMailLimits(ctx, cl, *in.Email); err != nil {
			return store.User{}, err
		}
		// Links mailed to the old address must not act on the new one.
		for _, purpose := range []string{purposeReset, purposeVerify} {
			if err := s.dropOneTime(ctx, purpose, cur.ID); err != nil {
				return store.User{}, err
			}
		}
	}
	u, err := s.modifyUser(ctx, cur.ID, func(u *store.User) error {
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
		return store.User{}, takenErr(fmt.Errorf("patch me: %w", err))
	}
	var changes []string
	if in.Username != nil {
		changes = append(changes, "username")
	}
	if in.Email != nil {
		changes = append(changes, "email")
	}
	s.audit.Log(ctx, audit.Event{Event: audit.ProfileChanged, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Changes: changes, Session: claims.SessionID})
	if newAddress {
		s.sendLink(ctx, purposeVerify, u, u.Email)
	}
	return u, nil
}
