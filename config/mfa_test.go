package config

import (
	"testing"
	"time"
)

const mfaKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes

func TestMFADefaults(t *testing.T) {
	c := &Config{MFA: MFA{WebAuthn: MFAPasskey{Origins: []string{"https://Auth.Example.com:8443"}}}}
	ApplyDefaults(c)
	m := c.MFA
	if m.Enabled || m.Issuer != "authgate" || m.FreshFor != 10*time.Minute || m.RecoveryCodes != 10 ||
		m.TOTP.Steps() != 1 || m.WebAuthn.RPName != "authgate" || m.WebAuthn.RPID != "auth.example.com" {
		t.Errorf("defaults: %+v (skew %d)", m, m.TOTP.Steps())
	}
	if c.RateLimits.SecondFactorPerUser != "5-M" {
		t.Errorf("second_factor_per_user = %q", c.RateLimits.SecondFactorPerUser)
	}
}

func TestValidateMFA(t *testing.T) {
	on := func(c *Config) { c.MFA.Enabled = true; c.MFA.EncryptionKey = mfaKey }
	zero := 0
	six := 6
	tests := []struct {
		name    string
		mutate  func(c *Config)
		path    string
		msg     string // "" when no problem is expected
		warning bool
	}{
		{"enabled without key", func(c *Config) { c.MFA.Enabled = true }, "mfa.encryption_key", "required when mfa.enabled", false},
		{"key not base64", func(c *Config) { on(c); c.MFA.EncryptionKey = "not base64!" }, "mfa.encryption_key", "not base64", false},
		{"key of 16 bytes", func(c *Config) { on(c); c.MFA.EncryptionKey = "MDEyMzQ1Njc4OWFiY2RlZg==" }, "mfa.encryption_key", "decodes to 16 bytes", false},
		{"good key, no origins warns", on, "mfa.webauthn.origins", "passkeys are off", true},
		{"recovery codes 0", func(c *Config) { on(c); c.MFA.RecoveryCodes = -1 }, "mfa.recovery_codes", "1 to 50", false},
		{"recovery codes 51", func(c *Config) { on(c); c.MFA.RecoveryCodes = 51 }, "mfa.recovery_codes", "1 to 50", false},
		{"fresh_for negative", func(c *Config) { on(c); c.MFA.FreshFor = -time.Minute }, "mfa.fresh_for", "must be positive", false},
		{"fresh_for a week", func(c *Config) { on(c); c.MFA.FreshFor = 7 * 24 * time.Hour }, "mfa.fresh_for", "at most 24h", false},
		{"skew 6", func(c *Config) { on(c); c.MFA.TOTP.Skew = &six }, "mfa.totp.skew", "0 to 5", false},
		{"skew 0 is fine", func(c *Config) {
			on(c)
			c.MFA.TOTP.Skew = &zero
			c.MFA.WebAuthn.Origins = []string{"https://example.com"}
		}, "", "", false},
		{"issuer with colon", func(c *Config) { on(c); c.MFA.Issuer = "a:b" }, "mfa.issuer", "without ':'", false},
		{"required role with comma", func(c *Config) { on(c); c.MFA.RequiredRoles = []string{"a,b"} }, "mfa.required_roles[0]", "must not contain", false},
		{"origin with path", func(c *Config) { on(c); c.MFA.WebAuthn.Origins = []string{"https://example.com/app"} }, "mfa.webauthn.origins[0]", "no path", false},
		{"origin http off localhost", func(c *Config) { on(c); c.MFA.WebAuthn.Origins = []string{"http://example.com"} }, "mfa.webauthn.origins[0]", "only on localhost", false},
		{"origin http on localhost", func(c *Config) { on(c); c.MFA.WebAuthn.Origins = []string{"http://localhost:8080"} }, "", "", false},
		{"origin outside rp_id", func(c *Config) {
			on(c)
			c.MFA.WebAuthn.RPID = "example.com"
			c.MFA.WebAuthn.Origins = []string{"https://app.example.com", "https://example.org"}
		}, "mfa.webauthn.origins[1]", "not on mfa.webauthn.rp_id", false},
		{"origin twice", func(c *Config) {
			on(c)
			c.MFA.WebAuthn.Origins = []string{"https://example.com", "https://example.com/"}
		}, "mfa.webauthn.origins[1]", "listed twice", false},
		{"rp_id with port", func(c *Config) {
			on(c)
			c.MFA.WebAuthn.RPID = "example.com:443"
			c.MFA.WebAuthn.Origins = []string{"https://example.com"}
		}, "mfa.webauthn.rp_id", "without scheme or port", false},
		{"rp_id an IP", func(c *Config) { on(c); c.MFA.WebAuthn.RPID = "10.0.0.1" }, "mfa.webauthn.rp_id", "not an IP", false},
		{"bad second_factor_per_user", func(c *Config) { c.RateLimits.SecondFactorPerUser = "5/1m" }, "rate_limits.second_factor_per_user", "invalid rate", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{}
			tt.mutate(c)
			ApplyDefaults(c)
			ps := Validate(c)
			if tt.path == "" {
				if len(ps) != 0 {
					t.Fatalf("unexpected problems:\n%v", ps)
				}
				return
			}
			p, ok := findProblem(ps, tt.path, tt.msg)
			if !ok {
				t.Fatalf("want %s: ...%s... in:\n%v", tt.path, tt.msg, ps)
			}
			if p.Warning != tt.warning {
				t.Errorf("Warning = %v, want %v", p.Warning, tt.warning)
			}
		})
	}
}

func TestMFAKeyFromFileAndEnv(t *testing.T) {
	f := writeFile(t, "mfa.key", mfaKey+"\n")
	cfg, ps := loadProblems(t, "mfa:\n  enabled: true\n  encryption_key_file: "+f+"\n  webauthn:\n    origins: [https://example.com]\n", nil)
	if ps != nil {
		t.Fatal(ps)
	}
	if k, err := cfg.MFA.Key(); err != nil || len(k) != 32 {
		t.Fatalf("key from file: %d bytes, %v", len(k), err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("a key from a file is no inline secret: %v", w)
	}
	cfg, ps = loadProblems(t, "mfa:\n  enabled: true\n  encryption_key: "+mfaKey+"\n  webauthn:\n    origins: [https://example.com]\n", nil)
	if ps != nil {
		t.Fatal(ps)
	}
	if _, ok := findProblem(cfg.Warnings(), "mfa.encryption_key", "inline"); !ok {
		t.Errorf("an inline key is not warned about: %v", cfg.Warnings())
	}
	_, ps = loadProblems(t, "mfa:\n  enabled: true\n  encryption_key: ${K}\n  encryption_key_file: "+f+"\n", map[string]string{"K": mfaKey})
	if _, ok := findProblem(ps, "mfa.encryption_key_file", "set only one of encryption_key and encryption_key_file"); !ok {
		t.Errorf("both key and file: %v", ps)
	}
	_, ps = loadProblems(t, "mfa:\n  totp:\n    skew: 0\n  recovery_codes: 0\n", nil)
	if _, ok := findProblem(ps, "mfa.recovery_codes", ""); !ok {
		t.Errorf("recovery_codes: 0 is not refused: %v", ps)
	}
	if _, ok := findProblem(ps, "mfa.totp.skew", ""); ok {
		t.Errorf("skew: 0 is refused: %v", ps)
	}
}
