package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// MFA configures second factors: TOTP, passkeys (WebAuthn) and recovery
// codes (docs/second-factors.md). Package mfa implements them; package
// account decides when a sign-in needs one.
type MFA struct {
	// Enabled turns second factors on: the routes and pages exist only
	// then, and a sign-in of a user who has a factor needs it. Default
	// false.
	Enabled bool `yaml:"enabled"`
	// Issuer is the TOTP issuer label shown in authenticator apps.
	// Default "authgate".
	Issuer string `yaml:"issuer"`
	// EncryptionKey is the base64 of 32 bytes: TOTP secrets are sealed
	// with it (AES-256-GCM) before they are stored. Give it as ${ENV} or
	// with EncryptionKeyFile. Required when Enabled. Losing it makes every
	// enrolled TOTP useless (recovery codes and passkeys still work).
	EncryptionKey     string `yaml:"encryption_key"`
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// RequiredRoles: a user with any of these roles and no second factor
	// must enrol one at sign-in before anything else. Default: none.
	RequiredRoles []string `yaml:"required_roles"`
	// FreshFor is how recent a second factor must be to remove a factor or
	// regenerate recovery codes (a stolen session alone cannot strip them).
	// Default 10m.
	FreshFor time.Duration `yaml:"fresh_for"`
	// RecoveryCodes is how many single-use recovery codes are made at the
	// first enrolment and at each regeneration. Default 10, 1 to 50.
	RecoveryCodes int        `yaml:"recovery_codes"`
	TOTP          MFATOTP    `yaml:"totp"`
	WebAuthn      MFAPasskey `yaml:"webauthn"`
}

// MFATOTP configures TOTP checks (RFC 6238).
type MFATOTP struct {
	// Skew is how many 30-second steps either side of now are accepted
	// (RFC 6238 §5.2: clocks drift and people type slowly). Default 1;
	// 0 accepts only the current step; at most MaxTOTPSkew. Read it with
	// Steps.
	Skew *int `yaml:"skew"`
}

// MaxTOTPSkew bounds mfa.totp.skew: each step more doubles the codes an
// attacker's guess can match.
const MaxTOTPSkew = 5

// Steps is Skew, 1 when unset.
func (t MFATOTP) Steps() int {
	if t.Skew == nil {
		return 1
	}
	return *t.Skew
}

// MFAPasskey configures the WebAuthn relying party.
type MFAPasskey struct {
	// RPID is the relying-party id: the host name passkeys are bound to
	// (a registrable suffix of every origin's host). Default: the host of
	// the first origin. Changing it orphans every registered passkey.
	RPID string `yaml:"rp_id"`
	// RPName is shown by the browser when a passkey is made. Default
	// "authgate".
	RPName string `yaml:"rp_name"`
	// Origins are the exact origins (scheme://host[:port]) the pages are
	// served from. Passkeys are offered only when at least one is set.
	Origins []string `yaml:"origins"`
}

// PasskeysOn reports whether passkeys are configured.
func (m *MFA) PasskeysOn() bool { return m.Enabled && len(m.WebAuthn.Origins) > 0 }

// Key decodes EncryptionKey (standard or URL base64, padded or not) into
// the 32-byte AES-256 key.
func (m *MFA) Key() ([]byte, error) {
	s := strings.TrimSpace(m.EncryptionKey)
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not base64: generate one with `openssl rand -base64 32`")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("decodes to %d bytes, AES-256 needs exactly 32 (`openssl rand -base64 32`)", len(key))
	}
	return key, nil
}

func mfaDefaults(c *Config) {
	m := &c.MFA
	setStr(&m.Issuer, "authgate")
	setDur(&m.FreshFor, 10*time.Minute)
	setInt(&m.RecoveryCodes, 10)
	if m.TOTP.Skew == nil {
		skew := 1
		m.TOTP.Skew = &skew
	}
	setStr(&m.WebAuthn.RPName, "authgate")
	if m.WebAuthn.RPID == "" && len(m.WebAuthn.Origins) > 0 {
		if u, err := url.Parse(m.WebAuthn.Origins[0]); err == nil {
			m.WebAuthn.RPID = strings.ToLower(u.Hostname())
		}
	}
}

func validateMFA(v *problemList, c *Config) {
	m := &c.MFA
	if m.EncryptionKey != "" || m.Enabled {
		if m.EncryptionKey == "" {
			v.add("mfa.encryption_key", "required when mfa.enabled: the base64 of 32 random bytes (`openssl rand -base64 32`), as ${ENV} or with encryption_key_file")
		} else if _, err := m.Key(); err != nil {
			v.add("mfa.encryption_key", err.Error())
		}
	}
	if m.Issuer == "" || strings.ContainsAny(m.Issuer, ":\r\n") {
		v.add("mfa.issuer", fmt.Sprintf("%q: a non-empty label without ':' (it prefixes the account in authenticator apps)", m.Issuer))
	}
	checkRoles(v, "mfa.required_roles", m.RequiredRoles)
	positive(v, "mfa.fresh_for", m.FreshFor)
	if m.FreshFor > 24*time.Hour {
		v.add("mfa.fresh_for", fmt.Sprintf("%s is beyond any sensible value: at most 24h", m.FreshFor))
	}
	if m.RecoveryCodes < 1 || m.RecoveryCodes > 50 {
		v.add("mfa.recovery_codes", fmt.Sprintf("must be 1 to 50 (got %d)", m.RecoveryCodes))
	}
	if s := m.TOTP.Steps(); s < 0 || s > MaxTOTPSkew {
		v.add("mfa.totp.skew", fmt.Sprintf("must be 0 to %d steps of 30s (got %d)", MaxTOTPSkew, s))
	}
	validatePasskeys(v, m)
	if m.Enabled && len(m.WebAuthn.Origins) == 0 {
		v.warn("mfa.webauthn.origins", "none set: passkeys are off, only TOTP and recovery codes are offered")
	}
}

func validatePasskeys(v *problemList, m *MFA) {
	w := &m.WebAuthn
	if w.RPName == "" {
		v.add("mfa.webauthn.rp_name", "must not be empty")
	}
	rpID := strings.ToLower(w.RPID)
	if w.RPID != "" && (w.RPID != rpID || strings.ContainsAny(rpID, ":/ \t*") || net.ParseIP(rpID) != nil ||
		strings.HasPrefix(rpID, ".") || strings.HasSuffix(rpID, ".") || strings.Contains(rpID, "..")) {
		v.add("mfa.webauthn.rp_id", fmt.Sprintf("%q: a lower-case host name without scheme or port, like example.com (not an IP address: browsers refuse those)", w.RPID))
		return
	}
	seen := map[string]bool{}
	for i, o := range w.Origins {
		path := indexPath("mfa.webauthn.origins", i)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			v.add(path, fmt.Sprintf("%q: an origin like https://app.example.com (scheme, host, optional port, no path)", o))
			continue
		}
		host := strings.ToLower(u.Hostname())
		if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") && host != "127.0.0.1" && host != "::1" {
			v.add(path, fmt.Sprintf("%q: browsers allow passkeys over http only on localhost; use https", o))
			continue
		}
		if seen[strings.ToLower(strings.TrimSuffix(o, "/"))] {
			v.add(path, fmt.Sprintf("%q is listed twice", o))
		}
		seen[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
		if rpID != "" && host != rpID && !strings.HasSuffix(host, "."+rpID) {
			v.add(path, fmt.Sprintf("%q is not on mfa.webauthn.rp_id %s or a subdomain of it: browsers refuse such a passkey", o, rpID))
		}
	}
}
