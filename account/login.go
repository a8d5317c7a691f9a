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

// Login is a sign-in attempt.
type Login struct {
	Username, Password string
	// Roles, when not empty, scope the sign-in: only a user with one of
	// them is let in. Anybody else gets the answer of a wrong password, so
	// that roles cannot be probed, but the attempt does not count towards
	// the lockout (the password was right).
	Roles []string
}

// SignIn checks the credentials under the login rate limits and the
// lockout and starts a session. A user who must change the password gets a
// pair whose access token is good only for changing it
// (Pair.Claims.PasswordChange).
func (s *Service) SignIn(ctx context.Context, in Login, cl Client) (auth.Pair, store.User, error) {
	if in.Username == "" {
		return auth.Pair{}, store.User{}, fieldErr("username", "is required")
	}
	if in.Password == "" {
		return auth.Pair{}, store.User{}, fieldErr("password", "is required")
	}
	if len(in.Password) > 4*s.cfg.Passwords.MaxLength {
		return auth.Pair{}, store.User{}, tooLong()
	}
	name := store.Fold(in.Username)
	failed := func(reason, user string) {
		s.audit.Log(ctx, audit.Event{Event: audit.SignIn, User: user, Username: in.Username, Outcome: audit.Failure, Reason: reason})
	}
	if err := s.take(ctx, s.loginIP, cl, cl.IP); err != nil {
		return s.loginFailed(err)
	}
	if err := s.take(ctx, s.loginUser, cl, name); err != nil {
		return s.loginFailed(err)
	}
	if e, err := s.lock.check(ctx, name, s.now()); err != nil || e != nil {
		if e != nil {
			s.obs.Login("locked")
			s.obs.RateLimited("lockout")
			failed("locked", in.Username)
			return auth.Pair{}, store.User{}, e
		}
		return auth.Pair{}, store.User{}, err
	}
	u, ok, err := s.checkPassword(ctx, in.Username, in.Password)
	if err != nil {
		if errors.Is(err, auth.ErrOverloaded) {
			s.obs.Login("overloaded") // not an error of anything
		} else {
			s.obs.Login("error")
		}
		return auth.Pair{}, store.User{}, err
	}
	if !ok {
		s.obs.Login("invalid_credentials")
		failed("invalid_credentials", in.Username)
		locked, err := s.lock.failed(ctx, name)
		if err != nil {
			return auth.Pair{}, store.User{}, err
		}
		if locked {
			s.audit.Log(ctx, audit.Event{Event: audit.Lockout, User: in.Username, Username: in.Username, Outcome: "locked"})
		}
		return auth.Pair{}, store.User{}, refuse(KindInvalidCredentials, "the username or password is wrong")
	}
	if len(in.Roles) > 0 && !slices.ContainsFunc(u.Roles, func(r string) bool { return slices.Contains(in.Roles, r) }) {
		s.obs.Login("invalid_credentials")
		s.log.InfoContext(ctx, "sign-in refused: role scope", "user", u.ID)
		failed("role_scope", u.ID)
		return auth.Pair{}, store.User{}, refuse(KindInvalidCredentials, "the username or password is wrong")
	}
	if s.cfg.Users.RequireVerifiedEmail && !u.EmailVerified {
		s.obs.Login("unverified")
		failed("email_not_verified", u.ID)
		return auth.Pair{}, store.User{}, &Error{Kind: KindEmailNotVerified, Field: "username",
			Detail: "verify your email address first: POST " + s.cfg.Routes.VerifyEmailReq}
	}
	a, err := s.signInAuthn(ctx, u, "pwd")
	if err != nil {
		s.obs.Login("error")
		return auth.Pair{}, store.User{}, err
	}
	// With a second step to come, the failures keep counting toward the
	// lockout until it succeeds: a right password must not reset what
	// guessed second factors counted (secondfactor.go).
	if a.Step != auth.StepVerify {
		if err := s.lock.succeeded(ctx, name); err != nil {
			return auth.Pair{}, store.User{}, err
		}
	}
	pair, err := s.sessions.Start(ctx, u, a)
	if err != nil {
		s.obs.Login("error")
		return auth.Pair{}, store.User{}, err
	}
	reason := stepReason(a.Step) // the second step comes before a password change
	if pair.Claims.PasswordChange {
		s.obs.Login("password_change")
		if reason == "" {
			reason = "password_change_required"
		}
	} else {
		s.obs.Login("success")
	}
	s.audit.Log(ctx, audit.Event{Event: audit.SignIn, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Reason: reason, Session: pair.Claims.SessionID})
	return pair, u, nil
}

func (s *Service) loginFailed(err error) (auth.Pair, store.User, error) {
	if e, ok := AsError(err); ok && e.Kind == KindRateLimited {
		s.obs.Login("rate_limited")
	}
	return auth.Pair{}, store.User{}, err
}

// checkPassword loads the user and verifies the password. Unknown and
// inactive users cost the same hash time as known ones and give the same
// answer (false).
func (s *Service) checkPassword(ctx context.Context, username, password string) (store.User, bool, error) {
	u, err := s.st.GetUserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
			return store.User{}, false, err
		}
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	if u.PasswordHash == "" {
		// An account made through an identity provider has no password
		// until one is set: it costs the same time and answers the same
		// as a wrong one.
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
			return store.User{}, false, err
		}
		return store.User{}, false, nil
	}
	ok, rehash, err := s.hasher.Verify(ctx, u.PasswordHash, password)
	if err != nil {
		if errors.Is(err, auth.ErrBadHash) {
			s.log.ErrorContext(ctx, "stored password hash is malformed", "user", u.ID)
			return store.User{}, false, nil
		}
		return store.User{}, false, err
	}
	if !ok || !u.Active {
		return store.User{}, false, nil
	}
	if rehash {
		s.upgradeHash(ctx, u, password)
	}
	return u, true, nil
}

// upgradeHash re-hashes a password whose stored hash uses older parameters
// or bcrypt; failure only logs.
func (s *Service) upgradeHash(ctx context.Context, u store.User, password string) {
	h, err := s.hasher.Hash(ctx, password)
	if err == nil {
		u.PasswordHash = h
		u.UpdatedAt = s.now().UTC()
		err = s.st.UpdateUser(ctx, u)
	}
	if err != nil {
		s.log.WarnContext(ctx, "password hash upgrade failed", "user", u.ID, "err", err.Error())
	}
}

// Refresh rotates a refresh token under rate_limits.refresh_per_ip. A
// token that is invalid, expired or reused is refused (KindInvalidRefresh);
// a reuse outside the store's grace rule has revoked the session.
func (s *Service) Refresh(ctx context.Context, token string, cl Client) (auth.Pair, store.User, error) {
	if token == "" {
		return auth.Pair{}, store.User{}, fieldErr("refresh_token", "is required")
	}
	if err := s.take(ctx, s.refreshIP, cl, cl.IP); err != nil {
		return auth.Pair{}, store.User{}, err
	}
	pair, u, err := s.sessions.Refresh(ctx, token)
	if errors.Is(err, auth.ErrRefreshInvalid) {
		if err.Error() != auth.ErrRefreshInvalid.Error() {
			s.log.WarnContext(ctx, "refresh token reuse", "detail", err.Error(), "ip", cl.IP)
			sid, _, _ := auth.SplitRefresh(token)
			s.audit.Log(ctx, audit.Event{Event: audit.RefreshReuse, Outcome: "session_revoked", Session: sid})
		}
		return auth.Pair{}, store.User{}, refuse(KindInvalidRefresh, "the refresh token is invalid, expired or already used")
	}
	if err != nil {
		return auth.Pair{}, store.User{}, err
	}
	return pair, u, nil
}

// SignOut ends one session, or every session of the user when all is set.
func (s *Service) SignOut(ctx context.Context, claims *auth.Claims, all bool) error {
	var err error
	reason := ""
	if all {
		reason = "all"
		err = s.sessions.EndAll(ctx, claims.Subject, "")
	} else {
		err = s.sessions.End(ctx, claims.SessionID)
	}
	if err == nil {
		s.audit.Log(ctx, audit.Event{Event: audit.SignOut, User: claims.Subject, Username: claims.Name, Actor: claims.Subject,
			Outcome: audit.Success, Reason: reason, Session: claims.SessionID})
	}
	return err
}

// hashPassword hashes a new password that passed the policy.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	hash, err := s.hasher.Hash(ctx, password)
	if errors.Is(err, auth.ErrPasswordTooLong) {
		return "", tooLong()
	}
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// SignInVerified starts a session for a user whose identity something
// other than a password proved: an external identity provider, named by
// method ("provider:<name>"). It counts against the per-IP sign-in limit
// (so a flood of callbacks is throttled like one of passwords), refuses an
// inactive user, and honours users.require_verified_email and the
// must-change flag exactly as a password sign-in does.
func (s *Service) SignInVerified(ctx context.Context, u store.User, method string, cl Client) (auth.Pair, error) {
	if err := s.take(ctx, s.loginIP, cl, cl.IP); err != nil {
		_, _, err = s.loginFailed(err)
		return auth.Pair{}, err
	}
	if !u.Active {
		s.obs.Login("invalid_credentials")
		s.audit.Log(ctx, audit.Event{Event: audit.SignIn, User: u.ID, Username: u.Username, Outcome: audit.Failure, Reason: "inactive"})
		return auth.Pair{}, refuse(KindInvalidCredentials, "this account is deactivated")
	}
	if s.cfg.Users.RequireVerifiedEmail && !u.EmailVerified {
		s.obs.Login("unverified")
		s.audit.Log(ctx, audit.Event{Event: audit.SignIn, User: u.ID, Username: u.Username, Outcome: audit.Failure, Reason: "email_not_verified"})
		return auth.Pair{}, &Error{Kind: KindEmailNotVerified, Detail: "verify your email address first: POST " + s.cfg.Routes.VerifyEmailReq}
	}
	a, err := s.signInAuthn(ctx, u, "fed")
	if err != nil {
		s.obs.Login("error")
		return auth.Pair{}, err
	}
	pair, err := s.sessions.Start(ctx, u, a)
	if err != nil {
		s.obs.Login("error")
		return auth.Pair{}, err
	}
	s.obs.Login("success")
	s.audit.Log(ctx, audit.Event{Event: audit.SignIn, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Reason: method, Session: pair.Claims.SessionID})
	return pair, nil
}

// NoteProvider records in the audit log what a provider sign-in did to the
// accounts: a user created (user_registered) or a provider account linked
// to an existing user (profile_changed, changes ["identities"]), or why it
// was refused (sign_in failure). method is "provider:<name>".
func (s *Service) NoteProvider(ctx context.Context, u store.User, method string, created, linked bool, refused string) {
	switch {
	case refused != "":
		s.obs.Login("invalid_credentials")
		s.audit.Log(ctx, audit.Event{Event: audit.SignIn, User: u.ID, Username: u.Username, Outcome: audit.Failure, Reason: method + ":" + refused})
	case created:
		s.audit.Log(ctx, audit.Event{Event: audit.Registered, User: u.ID, Username: u.Username, Actor: u.ID, Outcome: audit.Success, Reason: method})
	case linked:
		s.audit.Log(ctx, audit.Event{Event: audit.ProfileChanged, User: u.ID, Username: u.Username, Actor: u.ID,
			Outcome: audit.Success, Reason: method, Changes: []string{"identities"}})
	}
}
