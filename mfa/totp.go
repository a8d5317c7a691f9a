package mfa

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"authgate/store"
)

// TOTP parameters: what every authenticator app understands (RFC 6238
// defaults, the Google Authenticator key URI format).
const (
	totpPeriod = 30
	totpDigits = 6
	qrSize     = 256
)

// TOTPEnrolment is what a person needs to add the secret to an
// authenticator app. It is shown once: the secret is stored sealed and
// never returned again.
type TOTPEnrolment struct {
	// Secret is the base32 secret, for typing it in.
	Secret string
	// URL is the otpauth:// key URI the QR code holds.
	URL string
	// QRPNG is the QR code of URL as a PNG image.
	QRPNG []byte
}

// BeginTOTP makes a new secret and keeps it, sealed, as the pending
// enrolment (replacing an earlier pending one); it counts only once
// ConfirmTOTP got a first code of it. ErrAlreadyEnrolled when a TOTP is
// confirmed already.
func (s *Service) BeginTOTP(ctx context.Context, u User) (TOTPEnrolment, error) {
	if u.ID == "" || u.Name == "" {
		return TOTPEnrolment{}, fmt.Errorf("mfa: BeginTOTP needs the user's ID and name")
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      s.cfg.Issuer,
		AccountName: u.Name,
		Period:      totpPeriod,
		SecretSize:  20, // 160 bits, RFC 4226 §4's recommendation
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("mfa: generate TOTP secret: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("mfa: QR code: %w", err)
	}
	var qr bytes.Buffer
	if err := png.Encode(&qr, img); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("mfa: QR code: %w", err)
	}
	sealed, err := s.sealer.Seal(u.ID, []byte(key.Secret()))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	_, err = s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		if f.TOTP != nil {
			return ErrAlreadyEnrolled
		}
		f.PendingTOTP = &store.TOTPFactor{SecretEnc: sealed, AddedAt: s.now().UTC()}
		return nil
	})
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), QRPNG: qr.Bytes()}, nil
}

// ConfirmTOTP checks a first code of the pending secret and makes it the
// user's TOTP. When it is the user's first factor, it also makes the
// recovery codes and returns them (to be shown once); otherwise recovery is
// nil. Refusals: ErrNotEnrolled (nothing pending, or it expired),
// ErrInvalid, ErrAlreadyEnrolled.
func (s *Service) ConfirmTOTP(ctx context.Context, u User, typed string) (recovery []string, err error) {
	code, ok := NormalizeTOTPCode(typed)
	_, err = s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		recovery = nil
		p := f.PendingTOTP
		if p == nil || !s.now().Before(p.AddedAt.Add(PendingTOTPTTL)) {
			return ErrNotEnrolled
		}
		if f.TOTP != nil {
			return ErrAlreadyEnrolled
		}
		if !ok {
			return ErrInvalid
		}
		step, err := s.matchStep(u.ID, p, code)
		if err != nil {
			return err
		}
		if recovery, err = s.firstFactor(f); err != nil {
			return err
		}
		f.TOTP = &store.TOTPFactor{SecretEnc: p.SecretEnc, AddedAt: s.now().UTC(), LastStep: step}
		f.PendingTOTP = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recovery, nil
}

// RemoveTOTP removes the user's TOTP (and a pending enrolment).
// ErrNotEnrolled when there is none.
func (s *Service) RemoveTOTP(ctx context.Context, userID string) error {
	_, err := s.update(ctx, userID, func(f *store.SecondFactors) error {
		if f.TOTP == nil && f.PendingTOTP == nil {
			return ErrNotEnrolled
		}
		f.TOTP, f.PendingTOTP = nil, nil
		lastFactorGone(f)
		return nil
	})
	return err
}

func (s *Service) verifyTOTP(ctx context.Context, u User, typed string) (Result, error) {
	code, ok := NormalizeTOTPCode(typed)
	_, err := s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		if f.TOTP == nil {
			return ErrNotEnrolled
		}
		if !ok {
			return ErrInvalid
		}
		step, err := s.matchStep(u.ID, f.TOTP, code)
		if err != nil {
			return err
		}
		f.TOTP.LastStep = step
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Method: MethodTOTP, AMR: AMRTOTP}, nil
}

// matchStep finds the time step within the skew window whose code is code
// and that is later than t.LastStep. A code that matches only steps at or
// before LastStep is a replay (ErrReplayed); one that matches no step is
// ErrInvalid. Every step's code is computed and compared in constant time,
// whatever matched, so the answer's timing says nothing about which step.
func (s *Service) matchStep(userID string, t *store.TOTPFactor, code string) (int64, error) {
	secret, err := s.sealer.Open(userID, t.SecretEnc)
	if err != nil {
		return 0, err
	}
	now := TOTPStep(s.now())
	skew := int64(s.cfg.TOTP.Steps())
	matched, replayed := int64(-1), false
	for step := now - skew; step <= now+skew; step++ {
		if step < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(string(secret), uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, fmt.Errorf("mfa: TOTP code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		if step <= t.LastStep {
			replayed = true
		} else if step > matched {
			matched = step
		}
	}
	switch {
	case matched >= 0:
		return matched, nil
	case replayed:
		return 0, ErrReplayed
	}
	return 0, ErrInvalid
}

// TOTPStep is the RFC 6238 time step of t (30-second periods since the
// Unix epoch).
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode computes the code of secret (base32) at t: for tests and tools
// that play the authenticator app.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}
