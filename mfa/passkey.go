package mfa

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"authgate/config"
	"authgate/store"
)

// Ceremony purposes (store.Ceremony.Purpose).
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
)

// ErrCloneWarning refuses an assertion whose signature counter did not
// advance: the library's sign of a cloned authenticator (WebAuthn §6.1.1).
// It is an ErrInvalid.
var ErrCloneWarning = fmt.Errorf("%w: the passkey's signature counter went backwards (a cloned authenticator?)", ErrInvalid)

func newWebAuthn(c config.MFAPasskey) (*webauthn.WebAuthn, error) {
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          c.RPID,
		RPDisplayName: c.RPName,
		RPOrigins:     c.Origins,
		// No attestation: authgate trusts no authenticator vendor more
		// than another, and "none" asks the browser for no identifying
		// certificate.
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mfa.webauthn: %w", err)
	}
	return wa, nil
}

// waUser is a user as go-webauthn sees it: the user handle is the user's
// ID (never the name, which can change).
type waUser struct {
	u     User
	creds []webauthn.Credential
}

func (w waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w waUser) WebAuthnName() string                       { return w.u.Name }
func (w waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// credentials decodes the stored passkeys.
func credentials(f *store.SecondFactors) ([]webauthn.Credential, error) {
	out := make([]webauthn.Credential, 0, len(f.Passkeys))
	for _, p := range f.Passkeys {
		var c webauthn.Credential
		if err := json.Unmarshal(p.Credential, &c); err != nil {
			return nil, fmt.Errorf("mfa: stored passkey %s: %w", p.ID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Service) passkeyUser(u User, f *store.SecondFactors) (waUser, error) {
	if s.wa == nil {
		return waUser{}, ErrPasskeysOff
	}
	if u.ID == "" || len(u.ID) > 64 || u.Name == "" {
		return waUser{}, fmt.Errorf("mfa: a passkey user needs an ID of 1 to 64 bytes and a name")
	}
	creds, err := credentials(f)
	if err != nil {
		return waUser{}, err
	}
	return waUser{u: u, creds: creds}, nil
}

// beginCeremony stores the session data of a ceremony in the record.
func (s *Service) beginCeremony(f *store.SecondFactors, purpose string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("mfa: encode ceremony: %w", err)
	}
	f.Ceremony = &store.Ceremony{Purpose: purpose, Data: data, ExpiresAt: s.now().Add(CeremonyTTL).UTC()}
	return nil
}

// takeCeremony removes the pending ceremony from f (every finish consumes
// it, whatever its outcome) and returns its session data when it is of
// purpose and not expired. With no usable ceremony the refusal is
// ErrNoCeremony, to be written when one was removed.
func (s *Service) takeCeremony(f *store.SecondFactors, purpose string) (webauthn.SessionData, error) {
	c := f.Ceremony
	if c == nil {
		return webauthn.SessionData{}, ErrNoCeremony
	}
	f.Ceremony = nil
	if c.Purpose != purpose || !s.now().Before(c.ExpiresAt) {
		return webauthn.SessionData{}, errWrite{ErrNoCeremony}
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return webauthn.SessionData{}, errWrite{fmt.Errorf("%w: stored ceremony unreadable: %v", ErrNoCeremony, err)}
	}
	return sd, nil
}

// BeginPasskey starts registering a passkey: it returns the options for
// the browser's navigator.credentials.create() (JSON: {"publicKey": {...}})
// and keeps the challenge in the record for CeremonyTTL. The user's
// registered passkeys are excluded, so the same authenticator is not
// registered twice.
func (s *Service) BeginPasskey(ctx context.Context, u User) (json.RawMessage, error) {
	var out []byte
	_, err := s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		wu, err := s.passkeyUser(u, f)
		if err != nil {
			return err
		}
		creation, sd, err := s.wa.BeginRegistration(wu, webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()))
		if err != nil {
			return fmt.Errorf("mfa: begin passkey registration: %w", err)
		}
		if out, err = json.Marshal(creation); err != nil {
			return fmt.Errorf("mfa: encode creation options: %w", err)
		}
		return s.beginCeremony(f, ceremonyRegister, sd)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CheckPasskeyName validates a passkey's name ("" is allowed: a default
// is given).
func CheckPasskeyName(name string) error {
	if len(name) > 256 || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) ||
		strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return ErrBadName
	}
	return nil
}

// FinishPasskey checks the browser's answer to BeginPasskey (the JSON of
// the PublicKeyCredential) and registers the passkey under name (default
// "Passkey <n>"). When it is the user's first factor it also makes the
// recovery codes and returns them, to be shown once. Refusals:
// ErrNoCeremony, ErrInvalid, ErrBadName, ErrPasskeysOff.
func (s *Service) FinishPasskey(ctx context.Context, u User, name string, body []byte) (info PasskeyInfo, recovery []string, err error) {
	name = strings.TrimSpace(name)
	if err := CheckPasskeyName(name); err != nil {
		return PasskeyInfo{}, nil, err
	}
	parsed, perr := protocol.ParseCredentialCreationResponseBytes(body)
	_, err = s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		recovery = nil
		wu, err := s.passkeyUser(u, f)
		if err != nil {
			return err
		}
		sd, err := s.takeCeremony(f, ceremonyRegister)
		if err != nil {
			return err
		}
		if perr != nil {
			return errWrite{fmt.Errorf("%w: %v", ErrInvalid, libError(perr))}
		}
		cred, err := s.wa.CreateCredential(wu, sd, parsed)
		if err != nil {
			return errWrite{fmt.Errorf("%w: %v", ErrInvalid, libError(err))}
		}
		id := base64.RawURLEncoding.EncodeToString(cred.ID)
		for _, c := range wu.creds {
			if bytes.Equal(c.ID, cred.ID) {
				return errWrite{fmt.Errorf("%w: this passkey is registered already", ErrInvalid)}
			}
		}
		enc, err := json.Marshal(cred)
		if err != nil {
			return fmt.Errorf("mfa: encode credential: %w", err)
		}
		if recovery, err = s.firstFactor(f); err != nil {
			return err
		}
		n := name
		if n == "" {
			n = fmt.Sprintf("Passkey %d", len(f.Passkeys)+1)
		}
		info = PasskeyInfo{ID: id, Name: n, AddedAt: s.now().UTC()}
		f.Passkeys = append(f.Passkeys, store.Passkey{ID: id, Name: n, Credential: enc, AddedAt: info.AddedAt})
		return nil
	})
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	return info, recovery, nil
}

// BeginPasskeyLogin starts a passkey check of the second step or a
// step-up: it returns the options for navigator.credentials.get() (JSON:
// {"publicKey": {...}}), allowing only the user's passkeys, and keeps the
// challenge for CeremonyTTL. ErrNotEnrolled when the user has none.
func (s *Service) BeginPasskeyLogin(ctx context.Context, u User) (json.RawMessage, error) {
	var out []byte
	_, err := s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		wu, err := s.passkeyUser(u, f)
		if err != nil {
			return err
		}
		if len(wu.creds) == 0 {
			return ErrNotEnrolled
		}
		assertion, sd, err := s.wa.BeginLogin(wu)
		if err != nil {
			return fmt.Errorf("mfa: begin passkey login: %w", err)
		}
		if out, err = json.Marshal(assertion); err != nil {
			return fmt.Errorf("mfa: encode assertion options: %w", err)
		}
		return s.beginCeremony(f, ceremonyLogin, sd)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) finishPasskeyLogin(ctx context.Context, u User, body []byte) (Result, error) {
	parsed, perr := protocol.ParseCredentialRequestResponseBytes(body)
	var used string
	_, err := s.update(ctx, u.ID, func(f *store.SecondFactors) error {
		wu, err := s.passkeyUser(u, f)
		if err != nil {
			return err
		}
		if len(wu.creds) == 0 {
			return ErrNotEnrolled
		}
		sd, err := s.takeCeremony(f, ceremonyLogin)
		if err != nil {
			return err
		}
		if perr != nil {
			return errWrite{fmt.Errorf("%w: %v", ErrInvalid, libError(perr))}
		}
		cred, err := s.wa.ValidateLogin(wu, sd, parsed)
		if err != nil {
			return errWrite{fmt.Errorf("%w: %v", ErrInvalid, libError(err))}
		}
		if cred.Authenticator.CloneWarning {
			return errWrite{ErrCloneWarning}
		}
		used = base64.RawURLEncoding.EncodeToString(cred.ID)
		for i := range f.Passkeys {
			if f.Passkeys[i].ID != used {
				continue
			}
			enc, err := json.Marshal(cred)
			if err != nil {
				return fmt.Errorf("mfa: encode credential: %w", err)
			}
			f.Passkeys[i].Credential = enc
			f.Passkeys[i].LastUsedAt = s.now().UTC()
			return nil
		}
		return errWrite{fmt.Errorf("%w: unknown passkey", ErrInvalid)}
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Method: MethodPasskey, AMR: AMRPasskey, PasskeyID: used}, nil
}

// RemovePasskey removes the user's passkey with the given ID.
// ErrNotEnrolled when there is none.
func (s *Service) RemovePasskey(ctx context.Context, userID, id string) error {
	_, err := s.update(ctx, userID, func(f *store.SecondFactors) error {
		for i, p := range f.Passkeys {
			if p.ID == id {
				f.Passkeys = append(f.Passkeys[:i:i], f.Passkeys[i+1:]...)
				lastFactorGone(f)
				return nil
			}
		}
		return ErrNotEnrolled
	})
	return err
}

// libError is the library's error with its debugging detail, for logs.
func libError(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return pe.Details + ": " + pe.DevInfo
	}
	return err.Error()
}
