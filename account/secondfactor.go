package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"authgate/audit"
	"authgate/auth"
	"authgate/mfa"
	"authgate/store"
)

// Second factors around package mfa: which step a sign-in leads to, the
// second step and step-up (rate-limited, counted toward the lockout,
// audited, ending in a new session), enrolment and removal under the
// fresh-second-factor rule, and the administrator's reset.
//
// The rules, in one place:
//   - A sign-in (password or provider) of a user with a confirmed factor
//     gets a token restricted to the second step (Step "verify"); one of a
//     user without a factor whose roles intersect mfa.required_roles gets a
//     token restricted to enrolling (Step "enrol"); everyone else a full one.
//   - A restricted "verify" token cannot enrol, remove or regenerate
//     anything: with a stolen password alone nobody can add their own
//     factor or strip the victim's.
//   - Adding a factor when the user has one already, removing one and
//     regenerating recovery codes need a second factor proved within
//     mfa.fresh_for (a step-up); a stolen session older than that cannot.
//   - Every success of a second factor ends the session it was proved in
//     and starts a new one (no fixation of a pre-authentication session),
//     with amr [pwd|fed, otp|hwk|kba] and auth_time now.
//   - The password's lockout counter is not reset by a right password when
//     a second step follows: failed second factors keep counting toward it
//     until the second step succeeds.

// mfaOff refuses second-factor calls when mfa.enabled is false.
func mfaOff() *Error { return refuse(KindNotFound, "second factors are not enabled on this gateway") }

func (s *Service) mfaUser(u store.User) mfa.User { return mfa.User{ID: u.ID, Name: u.Username} }

// MFA is the second-factor service, nil when mfa.enabled is false.
func (s *Service) MFA() *mfa.Service { return s.mfa }

// signInAuthn decides how a sign-in by method ("pwd" or "fed") is
// recorded: which step is left.
func (s *Service) signInAuthn(ctx context.Context, u store.User, method string) (auth.Authn, error) {
	a := auth.Authn{AMR: []string{method}, Time: s.now()}
	if s.mfa == nil {
		return a, nil
	}
	enrolled, err := s.mfa.Enrolled(ctx, u.ID)
	if err != nil {
		return auth.Authn{}, err
	}
	switch {
	case enrolled:
		a.Step = auth.StepVerify
	case slices.ContainsFunc(u.Roles, func(r string) bool { return slices.Contains(s.cfg.MFA.RequiredRoles, r) }):
		a.Step = auth.StepEnrol
	}
	return a, nil
}

func stepReason(step string) string {
	switch step {
	case auth.StepVerify:
		return "second_factor_required"
	case auth.StepEnrol:
		return "second_factor_enrolment_required"
	}
	return ""
}

// tokenUser loads the active user of claims, which must be authgate's own
// token (a trusted issuer's token has no session to upgrade).
func (s *Service) tokenUser(ctx context.Context, claims *auth.Claims) (store.User, error) {
	if s.mfa == nil {
		return store.User{}, mfaOff()
	}
	if claims == nil || claims.External {
		return store.User{}, refuse(KindForbidden, "second factors are managed with this gateway's own sign-in")
	}
	u, err := s.st.GetUser(ctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return store.User{}, refuse(KindInvalidToken, "the token's user no longer exists or is deactivated")
	}
	if err != nil {
		return store.User{}, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// mayChange checks that claims may change the user's factors: not in the
// second step, and with a second factor within mfa.fresh_for unless the
// user has no factor to prove.
func (s *Service) mayChange(ctx context.Context, claims *auth.Claims) (store.User, error) {
	u, err := s.tokenUser(ctx, claims)
	if err != nil {
		return store.User{}, err
	}
	if claims.Step == auth.StepVerify {
		return store.User{}, refuse(KindSecondFactorRequired, "prove your second factor first")
	}
	enrolled, err := s.mfa.Enrolled(ctx, u.ID)
	if err != nil {
		return store.User{}, err
	}
	if enrolled && !claims.SecondFactorWithin(s.cfg.MFA.FreshFor, s.now()) {
		return store.User{}, refuse(KindFreshSecondFactor,
			fmt.Sprintf("this change needs a second factor proved within the last %s: verify one again first", fmtDur(s.cfg.MFA.FreshFor)))
	}
	return u, nil
}

// upgrade starts a new full session for u after a second factor (amr)
// was proved in the session of claims, and ends that session.
func (s *Service) upgrade(ctx context.Context, claims *auth.Claims, u store.User, amr string) (auth.Pair, error) {
	var methods []string
	for _, m := range claims.AMR {
		if m == "pwd" || m == "fed" {
			methods = append(methods, m)
		}
	}
	pair, err := s.sessions.Start(ctx, u, auth.Authn{AMR: append(methods, amr), Time: s.now()})
	if err != nil {
		return auth.Pair{}, err
	}
	if claims.SessionID != "" {
		if err := s.sessions.End(ctx, claims.SessionID); err != nil {
			// The new session stands; the old one ends with its tokens.
			s.log.WarnContext(ctx, "second factor: ending the earlier session failed", "user", u.ID, "err", err.Error())
		}
	}
	return pair, nil
}

// SecondFactor checks a proof of the user's second factor: the second step
// of a sign-in (claims.Step "verify") or a step-up of a full session. It
// counts under rate_limits.second_factor_per_user, refuses a locked
// username, and counts failures toward the lockout. Success ends the
// session of claims and returns the pair of a new full one.
func (s *Service) SecondFactor(ctx context.Context, claims *auth.Claims, p mfa.Proof, cl Client) (auth.Pair, error) {
	u, err := s.tokenUser(ctx, claims)
	if err != nil {
		return auth.Pair{}, err
	}
	if claims.Step == auth.StepEnrol {
		return auth.Pair{}, refuse(KindNotEnrolled, "enrol a second factor first")
	}
	failed := func(reason string) {
		s.audit.Log(ctx, audit.Event{Event: audit.SecondFactor, User: u.ID, Username: u.Username, Actor: u.ID,
			Outcome: audit.Failure, Reason: reason, Session: claims.SessionID})
	}
	if err := s.take(ctx, s.sfUser, cl, u.ID); err != nil {
		if e, ok := AsError(err); ok && e.Kind == KindRateLimited {
			failed("rate_limited")
		}
		return auth.Pair{}, err
	}
	name := store.Fold(u.Username)
	if e, err := s.lock.check(ctx, name, s.now()); err != nil || e != nil {
		if e != nil {
			s.obs.RateLimited("lockout")
			failed("locked")
			return auth.Pair{}, e
		}
		return auth.Pair{}, err
	}
	res, err := s.mfa.Verify(ctx, s.mfaUser(u), p)
	if err != nil {
		return auth.Pair{}, s.secondFactorFailed(ctx, u, p.Method, err, failed)
	}
	if err := s.lock.succeeded(ctx, name); err != nil {
		return auth.Pair{}, err
	}
	pair, err := s.upgrade(ctx, claims, u, res.AMR)
	if err != nil {
		return auth.Pair{}, err
	}
	s.audit.Log(ctx, audit.Event{Event: audit.SecondFactor, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Reason: res.Method, Session: pair.Claims.SessionID})
	if res.Method == mfa.MethodRecoveryCode {
		s.audit.Log(ctx, audit.Event{Event: audit.RecoveryCodeUsed, User: u.ID, Username: u.Username, Actor: u.ID,
			Outcome: audit.Success, Session: pair.Claims.SessionID})
	}
	return pair, nil
}

// secondFactorFailed maps a refusal of mfa.Verify: a wrong or replayed
// proof is audited and counts toward the lockout; a missing factor does
// neither (it is no guess).
func (s *Service) secondFactorFailed(ctx context.Context, u store.User, method string, err error, failed func(string)) error {
	switch {
	case errors.Is(err, mfa.ErrNotEnrolled), errors.Is(err, mfa.ErrPasskeysOff):
		return refuse(KindNotEnrolled, "you have no second factor of this kind")
	case errors.Is(err, mfa.ErrInvalid), errors.Is(err, mfa.ErrReplayed), errors.Is(err, mfa.ErrNoCeremony):
	default:
		return err
	}
	reason := method
	detail := "the code or passkey is not valid"
	switch {
	case errors.Is(err, mfa.ErrReplayed):
		reason, detail = "replayed", "this code was already used; wait for the next one"
	case errors.Is(err, mfa.ErrNoCeremony):
		detail = "the passkey request expired or was already answered; start again"
	}
	if method != mfa.MethodTOTP && method != mfa.MethodRecoveryCode && method != mfa.MethodPasskey {
		reason = "invalid_method"
	}
	if method == mfa.MethodPasskey {
		s.log.InfoContext(ctx, "passkey refused", "user", u.ID, "why", err.Error())
	}
	failed(reason)
	locked, lerr := s.lock.failed(ctx, store.Fold(u.Username))
	if lerr != nil {
		return lerr
	}
	if locked {
		s.audit.Log(ctx, audit.Event{Event: audit.Lockout, User: u.ID, Username: u.Username, Outcome: "locked"})
	}
	return &Error{Kind: KindSecondFactorInvalid, Field: "code", Detail: detail}
}

// Enrolment is what a finished enrolment hands back.
type Enrolment struct {
	// RecoveryCodes are set when this was the user's first factor: show
	// them once.
	RecoveryCodes []string
	// Passkey describes the registered passkey (passkey enrolment only).
	Passkey *mfa.PasskeyInfo
	// Pair is set when the token was restricted to enrolling (Step
	// "enrol") or this was the user's first factor: the enrolment proved
	// the new factor, that session has ended and this is the new one, whose
	// amr has the factor. A user sent to enrol by an `mfa: required` rule
	// thus reaches the page asked for at once, instead of waiting for the
	// authenticator's next code (the confirming one is spent).
	Pair *auth.Pair
}

// BeginTOTP starts a TOTP enrolment: the secret, its otpauth URL and QR
// code, shown once. It needs a full or an "enrol" token, and a fresh
// second factor when the user has one already.
func (s *Service) BeginTOTP(ctx context.Context, claims *auth.Claims) (mfa.TOTPEnrolment, error) {
	u, err := s.mayChange(ctx, claims)
	if err != nil {
		return mfa.TOTPEnrolment{}, err
	}
	e, err := s.mfa.BeginTOTP(ctx, s.mfaUser(u))
	return e, s.mfaRefusal(err)
}

// ConfirmTOTP confirms the pending TOTP with a first code (counted under
// second_factor_per_user). See Enrolment for what it returns.
func (s *Service) ConfirmTOTP(ctx context.Context, claims *auth.Claims, code string, cl Client) (Enrolment, error) {
	u, err := s.mayChange(ctx, claims)
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.take(ctx, s.sfUser, cl, u.ID); err != nil {
		return Enrolment{}, err
	}
	codes, err := s.mfa.ConfirmTOTP(ctx, s.mfaUser(u), code)
	if err != nil {
		return Enrolment{}, s.mfaRefusal(err)
	}
	return s.enrolled(ctx, claims, u, mfa.MethodTOTP, mfa.AMRTOTP, Enrolment{RecoveryCodes: codes})
}

// BeginPasskey starts registering a passkey: the options for
// navigator.credentials.create(), as JSON. Same rules as BeginTOTP.
func (s *Service) BeginPasskey(ctx context.Context, claims *auth.Claims) (json.RawMessage, error) {
	u, err := s.mayChange(ctx, claims)
	if err != nil {
		return nil, err
	}
	opts, err := s.mfa.BeginPasskey(ctx, s.mfaUser(u))
	return opts, s.mfaRefusal(err)
}

// FinishPasskey registers the passkey the browser made (body: its
// PublicKeyCredential as JSON) under name ("" for a default), counted
// under second_factor_per_user. See Enrolment for what it returns.
func (s *Service) FinishPasskey(ctx context.Context, claims *auth.Claims, name string, body []byte, cl Client) (Enrolment, error) {
	u, err := s.mayChange(ctx, claims)
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.take(ctx, s.sfUser, cl, u.ID); err != nil {
		return Enrolment{}, err
	}
	info, codes, err := s.mfa.FinishPasskey(ctx, s.mfaUser(u), name, body)
	if err != nil {
		if errors.Is(err, mfa.ErrInvalid) {
			s.log.InfoContext(ctx, "passkey registration refused", "user", u.ID, "why", err.Error())
		}
		return Enrolment{}, s.mfaRefusal(err)
	}
	return s.enrolled(ctx, claims, u, mfa.MethodPasskey, mfa.AMRPasskey, Enrolment{RecoveryCodes: codes, Passkey: &info})
}

// enrolled audits an enrolment and upgrades an "enrol" session, and any
// session that has just enrolled the user's first factor (e.RecoveryCodes
// are set then). A later factor upgrades nothing: adding it needed a
// fresh second factor, which the session's amr already has.
func (s *Service) enrolled(ctx context.Context, claims *auth.Claims, u store.User, method, amr string, e Enrolment) (Enrolment, error) {
	s.audit.Log(ctx, audit.Event{Event: audit.SecondFactorEnrolled, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Reason: method, Session: claims.SessionID})
	if claims.Step != auth.StepEnrol && e.RecoveryCodes == nil {
		return e, nil
	}
	pair, err := s.upgrade(ctx, claims, u, amr)
	if err != nil {
		return Enrolment{}, err
	}
	e.Pair = &pair
	return e, nil
}

// BeginPasskeyLogin starts a passkey check (second step or step-up): the
// options for navigator.credentials.get(), as JSON. Finish it with
// SecondFactor and mfa.Proof{Method: "passkey", Credential: body}.
func (s *Service) BeginPasskeyLogin(ctx context.Context, claims *auth.Claims) (json.RawMessage, error) {
	u, err := s.tokenUser(ctx, claims)
	if err != nil {
		return nil, err
	}
	if claims.Step == auth.StepEnrol {
		return nil, refuse(KindNotEnrolled, "enrol a second factor first")
	}
	opts, err := s.mfa.BeginPasskeyLogin(ctx, s.mfaUser(u))
	return opts, s.mfaRefusal(err)
}

// RemoveTOTP removes the user's authenticator app (needs a fresh second
// factor).
func (s *Service) RemoveTOTP(ctx context.Context, claims *auth.Claims) error {
	u, err := s.mayChange(ctx, claims)
	if err != nil {
		return err
	}
	if err := s.mfa.RemoveTOTP(ctx, u.ID); err != nil {
		return s.mfaRefusal(err)
	}
	s.audit.Log(ctx, audit.Event{Event: audit.SecondFactorRemoved, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Reason: mfa.MethodTOTP, Session: claims.SessionID})
	return nil
}

// RemovePasskey removes one of the user's passkeys by ID (needs a fresh
// second factor).
func (s *Service) RemovePasskey(ctx context.Context, claims *auth.Claims, id string) error {
	u, err := s.mayChange(ctx, claims)
	if err != nil {
		return err
	}
	if err := s.mfa.RemovePasskey(ctx, u.ID, id); err != nil {
		return s.mfaRefusal(err)
	}
	s.audit.Log(ctx, audit.Event{Event: audit.SecondFactorRemoved, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Reason: mfa.MethodPasskey, Session: claims.SessionID})
	return nil
}

// RegenerateRecoveryCodes replaces the user's recovery codes and returns
// the new ones, to be shown once (needs a fresh second factor).
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, claims *auth.Claims) ([]string, error) {
	u, err := s.mayChange(ctx, claims)
	if err != nil {
		return nil, err
	}
	codes, err := s.mfa.RegenerateRecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, s.mfaRefusal(err)
	}
	s.audit.Log(ctx, audit.Event{Event: audit.RecoveryCodesRegenerated, User: u.ID, Username: u.Username, Actor: u.ID,
		Outcome: audit.Success, Session: claims.SessionID})
	return codes, nil
}

// SecondFactorStatus is what the token's user has (any token of theirs,
// restricted ones too: the second-step page needs it).
func (s *Service) SecondFactorStatus(ctx context.Context, claims *auth.Claims) (mfa.Status, error) {
	u, err := s.tokenUser(ctx, claims)
	if err != nil {
		return mfa.Status{}, err
	}
	return s.mfa.Status(ctx, u.ID)
}

// ResetSecondFactors deletes every second factor of the user and ends
// their sessions (an administrator's help for a user who lost them). admin
// must carry users.admin_role; an admin cannot reset their own (that would
// skip the fresh-second-factor rule).
func (s *Service) ResetSecondFactors(ctx context.Context, admin *auth.Claims, userID string) error {
	if s.mfa == nil {
		return mfaOff()
	}
	if err := s.Admin(admin); err != nil {
		return err
	}
	if userID == admin.Subject {
		return refuse(KindValidation, "you cannot reset your own second factors; ask another admin")
	}
	return s.ResetSecondFactorsBy(ctx, userID, admin.Subject)
}

// ResetSecondFactorsBy is ResetSecondFactors without the checks of the
// admin's token, for `authgate users reset-mfa` (by: cli:<os user>), whose
// user can always get in: the way back for the only admin.
func (s *Service) ResetSecondFactorsBy(ctx context.Context, userID, by string) error {
	if s.mfa == nil {
		return mfaOff()
	}
	u, err := s.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.mfa.Reset(ctx, u.ID); err != nil {
		return err
	}
	if err := s.sessions.EndAll(ctx, u.ID, ""); err != nil {
		return fmt.Errorf("reset second factors: end sessions: %w", err)
	}
	s.log.InfoContext(ctx, "second factors reset", "user", u.ID, "by", by)
	s.audit.Log(ctx, audit.Event{Event: audit.SecondFactorRemoved, User: u.ID, Username: u.Username, Actor: by,
		Outcome: audit.Success, Reason: "admin_reset"})
	return nil
}

// mfaRefusal maps the refusals of package mfa to account errors; other
// errors (could not check) pass unchanged.
func (s *Service) mfaRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mfa.ErrInvalid):
		return &Error{Kind: KindSecondFactorInvalid, Field: "code", Detail: "the code or passkey is not valid"}
	case errors.Is(err, mfa.ErrReplayed):
		return &Error{Kind: KindSecondFactorInvalid, Field: "code", Detail: "this code was already used; wait for the next one"}
	case errors.Is(err, mfa.ErrNoCeremony):
		return &Error{Kind: KindSecondFactorInvalid, Detail: "the passkey request expired or was already answered; start again"}
	case errors.Is(err, mfa.ErrNotEnrolled):
		return refuse(KindNotEnrolled, "there is no such second factor, or nothing to confirm: start the enrolment again")
	case errors.Is(err, mfa.ErrPasskeysOff):
		return refuse(KindNotEnrolled, "passkeys are not configured on this gateway (mfa.webauthn.origins)")
	case errors.Is(err, mfa.ErrAlreadyEnrolled):
		return &Error{Kind: KindValidation, Field: "method", Detail: "an authenticator app is already enrolled; remove it first"}
	case errors.Is(err, mfa.ErrBadName):
		return fieldErr("name", "at most 64 printable characters")
	}
	return err
}

// fmtDur prints 10m0s as 10m and 1h0m0s as 1h.
func fmtDur(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
