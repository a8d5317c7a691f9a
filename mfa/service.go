package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"authgate/config"
	"authgate/store"
)

// Methods of proof, as Proof.Method and Result.Method name them.
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
	MethodPasskey      = "passkey"
)

// Refusals. Other errors mean "could not check" (store, randomness).
var (
	// ErrInvalid: the code or assertion is wrong (also a malformed one).
	ErrInvalid = errors.New("mfa: the code or passkey is not valid")
	// ErrReplayed: a right TOTP code of a time step already used.
	ErrReplayed = errors.New("mfa: this code was already used; wait for the next one")
	// ErrNotEnrolled: the user has no such factor (or no pending TOTP
	// enrolment to confirm, or no passkey with that ID).
	ErrNotEnrolled = errors.New("mfa: no such second factor")
	// ErrAlreadyEnrolled: a TOTP is confirmed already; remove it first.
	ErrAlreadyEnrolled = errors.New("mfa: an authenticator app is already enrolled; remove it first")
	// ErrNoCeremony: no passkey ceremony of this kind is pending, it
	// expired, or its finish was already presented.
	ErrNoCeremony = errors.New("mfa: no passkey ceremony is pending, or it expired; start again")
	// ErrPasskeysOff: mfa.webauthn.origins is empty.
	ErrPasskeysOff = errors.New("mfa: passkeys are not configured")
	// ErrBadName: a passkey name that is too long or not printable.
	ErrBadName = errors.New("mfa: a passkey name is at most 64 printable characters")
)

// Durations of pending states.
const (
	// CeremonyTTL bounds a WebAuthn ceremony from begin to finish.
	CeremonyTTL = 5 * time.Minute
	// PendingTOTPTTL bounds a TOTP enrolment from showing the secret to
	// confirming it with a first code.
	PendingTOTPTTL = 15 * time.Minute
	// maxRetries bounds the re-read-and-retry loop on store.ErrConflict.
	maxRetries = 8
)

// Store is what package mfa needs from the store.
type Store interface {
	GetSecondFactors(ctx context.Context, userID string) (store.SecondFactors, error)
	PutSecondFactors(ctx context.Context, f store.SecondFactors) (store.SecondFactors, error)
	DeleteSecondFactors(ctx context.Context, userID string) error
}

// User is who a factor belongs to.
type User struct {
	ID string
	// Name is the username: the account label in authenticator apps and
	// the passkey's user name.
	Name string
}

// Service enrols and checks second factors. It is safe for concurrent use.
type Service struct {
	cfg    config.MFA
	st     Store
	sealer *Sealer
	wa     *webauthn.WebAuthn // nil: passkeys off
	now    func() time.Time
}

// New builds the service from the mfa config (defaults applied, validated).
// now may be nil (time.Now).
func New(cfg config.MFA, st Store, now func() time.Time) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	key, err := cfg.Key()
	if err != nil {
		return nil, fmt.Errorf("mfa.encryption_key: %w", err)
	}
	sealer, err := NewSealer(key)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, st: st, sealer: sealer, now: now}
	if len(cfg.WebAuthn.Origins) > 0 {
		if s.wa, err = newWebAuthn(cfg.WebAuthn); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// PasskeysOn reports whether passkeys can be used.
func (s *Service) PasskeysOn() bool { return s.wa != nil }

// HasFactor reports whether f holds a confirmed factor (recovery codes
// alone are none: they only stand in for one).
func HasFactor(f store.SecondFactors) bool { return f.TOTP != nil || len(f.Passkeys) > 0 }

// Enrolled reports whether the user has a confirmed second factor.
func (s *Service) Enrolled(ctx context.Context, userID string) (bool, error) {
	f, err := s.st.GetSecondFactors(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("load second factors: %w", err)
	}
	return HasFactor(f), nil
}

// Status is what a user has, without a secret.
type Status struct {
	TOTP bool `json:"totp"`
	// TOTPPending: an enrolment awaits its first code.
	TOTPPending bool          `json:"totp_pending"`
	Passkeys    []PasskeyInfo `json:"passkeys"`
	// RecoveryCodes is the number of unspent recovery codes.
	RecoveryCodes int `json:"recovery_codes"`
	// PasskeysAvailable: passkeys are configured on this gateway.
	PasskeysAvailable bool `json:"passkeys_available"`
}

// Enrolled reports whether the status holds a confirmed factor.
func (st Status) Enrolled() bool { return st.TOTP || len(st.Passkeys) > 0 }

// PasskeyInfo describes a registered passkey.
type PasskeyInfo struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	AddedAt    time.Time `json:"added_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Status returns what the user has.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	f, err := s.st.GetSecondFactors(ctx, userID)
	if err != nil {
		return Status{}, fmt.Errorf("load second factors: %w", err)
	}
	st := Status{
		TOTP:              f.TOTP != nil,
		TOTPPending:       f.PendingTOTP != nil && s.now().Before(f.PendingTOTP.AddedAt.Add(PendingTOTPTTL)),
		Passkeys:          []PasskeyInfo{},
		RecoveryCodes:     len(f.RecoveryHashes),
		PasskeysAvailable: s.wa != nil,
	}
	for _, p := range f.Passkeys {
		st.Passkeys = append(st.Passkeys, PasskeyInfo{ID: p.ID, Name: p.Name, AddedAt: p.AddedAt, LastUsedAt: p.LastUsedAt})
	}
	return st, nil
}

// Reset deletes every factor of the user (an administrator's reset).
func (s *Service) Reset(ctx context.Context, userID string) error {
	if err := s.st.DeleteSecondFactors(ctx, userID); err != nil {
		return fmt.Errorf("delete second factors: %w", err)
	}
	return nil
}

// errWrite wraps a refusal that must still be written (a consumed
// ceremony): update stores the record, then returns the refusal.
type errWrite struct{ err error }

func (e errWrite) Error() string { return e.err.Error() }

// update reads the user's record, lets change decide on it and writes the
// result with compare-and-swap; on store.ErrConflict (another request wrote
// meanwhile) it starts again from a fresh read, so change always decides on
// what is stored. change returning an error writes nothing, except an
// errWrite, whose record is written before its error is returned.
func (s *Service) update(ctx context.Context, userID string, change func(f *store.SecondFactors) error) (store.SecondFactors, error) {
	for range maxRetries {
		f, err := s.st.GetSecondFactors(ctx, userID)
		if err != nil {
			return store.SecondFactors{}, fmt.Errorf("load second factors: %w", err)
		}
		f.UserID = userID
		refusal := change(&f)
		var w errWrite
		if refusal != nil && !errors.As(refusal, &w) {
			return store.SecondFactors{}, refusal
		}
		f.UpdatedAt = s.now().UTC()
		// Unique per attempt: a concurrent request that decided the same
		// (the same code, the same instant) must not pass for a retry of
		// this write (see store.SecondFactors.WriteID).
		if f.WriteID, err = writeID(); err != nil {
			return store.SecondFactors{}, err
		}
		out, err := s.st.PutSecondFactors(ctx, f)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.SecondFactors{}, fmt.Errorf("store second factors: %w", err)
		}
		if refusal != nil {
			return out, w.err
		}
		return out, nil
	}
	return store.SecondFactors{}, fmt.Errorf("store second factors of %s: %d conflicting writes in a row: %w", userID, maxRetries, store.ErrConflict)
}

// Proof is what a person presents as a second factor.
type Proof struct {
	// Method is MethodTOTP, MethodRecoveryCode or MethodPasskey.
	Method string
	// Code is the TOTP or recovery code as typed.
	Code string
	// Credential is the browser's JSON of the PublicKeyCredential of a
	// passkey assertion (after BeginPasskeyLogin).
	Credential []byte
}

// Result says what a successful Verify spent.
type Result struct {
	// Method is the Proof's method.
	Method string
	// AMR is the RFC 8176 value of the method: otp, hwk or kba.
	AMR string
	// RecoveryCodesLeft counts the unspent recovery codes after the check.
	RecoveryCodesLeft int
	// PasskeyID names the passkey used.
	PasskeyID string
}

// AMR values (RFC 8176) of the methods.
const (
	AMRTOTP         = "otp"
	AMRPasskey      = "hwk"
	AMRRecoveryCode = "kba"
)

// Verify checks a proof of the user's second factor and spends what is
// single-use: the TOTP time step, the recovery code, the passkey
// ceremony. Refusals: ErrInvalid, ErrReplayed, ErrNotEnrolled,
// ErrNoCeremony, ErrPasskeysOff; any other error is a failure to check.
func (s *Service) Verify(ctx context.Context, u User, p Proof) (Result, error) {
	switch p.Method {
	case MethodTOTP:
		return s.verifyTOTP(ctx, u, p.Code)
	case MethodRecoveryCode:
		return s.verifyRecoveryCode(ctx, u, p.Code)
	case MethodPasskey:
		return s.finishPasskeyLogin(ctx, u, p.Credential)
	}
	return Result{}, fmt.Errorf("%w: unknown method %q (totp, recovery_code or passkey)", ErrInvalid, p.Method)
}

func (s *Service) verifyRecoveryCode(ctx context.Context, u User, typed string) (Result, error) {
	code, ok := NormalizeRecoveryCode(typed)
	if !ok {
		return Result{}, ErrInvalid
	}
	f, err := s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		if !HasFactor(*f) || len(f.RecoveryHashes) == 0 {
			return ErrNotEnrolled
		}
		rest, ok := spendRecoveryCode(f.RecoveryHashes, u.ID, code)
		if !ok {
			return ErrInvalid
		}
		f.RecoveryHashes = rest
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Method: MethodRecoveryCode, AMR: AMRRecoveryCode, RecoveryCodesLeft: len(f.RecoveryHashes)}, nil
}

// RegenerateRecoveryCodes replaces the user's recovery codes with
// mfa.recovery_codes new ones and returns them, formatted, to be shown
// once. ErrNotEnrolled when the user has no factor.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	var codes []string
	_, err := s.update(ctx, userID, func(f *store.SecondFactors) error {
		if !HasFactor(*f) {
			return ErrNotEnrolled
		}
		var hashes []string
		var err error
		if codes, hashes, err = newRecoveryCodes(userID, s.cfg.RecoveryCodes); err != nil {
			return err
		}
		f.RecoveryHashes = hashes
		return nil
	})
	return codes, err
}

// firstFactor gives f recovery codes when it is about to get its first
// factor (call it before adding the factor); it returns them (nil when f
// had a factor already).
func (s *Service) firstFactor(f *store.SecondFactors) ([]string, error) {
	if HasFactor(*f) {
		return nil, nil
	}
	codes, hashes, err := newRecoveryCodes(f.UserID, s.cfg.RecoveryCodes)
	if err != nil {
		return nil, err
	}
	f.RecoveryHashes = hashes
	return codes, nil
}

// lastFactorGone drops the recovery codes of a record left without a
// factor: they stand in for a factor, and a new first factor brings new
// ones.
func lastFactorGone(f *store.SecondFactors) {
	if !HasFactor(*f) {
		f.RecoveryHashes = nil
	}
}

// writeID is a random identifier of one write attempt.
func writeID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mfa: write id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
