package config

import (
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"
)

func TestApplyDefaultsFillsEveryDocumentedDefault(t *testing.T) {
	c := &Config{}
	ApplyDefaults(c)
	tests := []struct {
		field     string
		got, want any
	}{
		{"listen", c.Listen, ":8080"},
		{"admin_listen", c.AdminListen, "127.0.0.1:8081"},
		{"data_dir", c.DataDir, "./data"},
		{"log.format", c.Log.Format, "text"},
		{"log.level", c.Log.Level, "info"},
		{"audit.output", c.Audit.Output, "off"},
		{"tracing.sample_ratio", c.Tracing.SampleRatio, 1.0},
		{"tracing.service_name", c.Tracing.ServiceName, "authgate"},
		{"server.body_limit", c.Server.BodyLimit, 1 << 20},
		{"server.read_timeout", c.Server.ReadTimeout, 10 * time.Second},
		{"server.write_timeout", c.Server.WriteTimeout, 30 * time.Second},
		{"server.idle_timeout", c.Server.IdleTimeout, 120 * time.Second},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, 20 * time.Second},
		{"server.fast_path", *c.Server.FastPath, true},
		{"server.metrics_on_listen", c.Server.MetricsOnListen, false},
		{"upstreams.default", c.Upstreams.Default, "http://127.0.0.1:9000"},
		{"upstreams.dial_timeout", c.Upstreams.DialTimeout, 5 * time.Second},
		{"upstreams.response_timeout", c.Upstreams.ResponseTimeout, 60 * time.Second},
		{"upstreams.max_conns_per_host", c.Upstreams.MaxConnsPerHost, 1024},
		{"store.type", c.Store.Type, "embedded"},
		{"store.path", c.Store.Path, filepath.Join("data", "authgate.db")},
		{"store.redis.db", c.Store.Redis.DB, 0},
		{"store.redis.prefix", c.Store.Redis.Prefix, "authgate:"},
		{"store.redis.timeout", c.Store.Redis.Timeout, 2 * time.Second},
		{"tokens.issuer", c.Tokens.Issuer, "authgate"},
		{"tokens.audience", c.Tokens.Audience, []string{"authgate"}},
		{"tokens.access_ttl", c.Tokens.AccessTTL, 15 * time.Minute},
		{"tokens.refresh_ttl", c.Tokens.RefreshTTL, 720 * time.Hour},
		{"tokens.session_lifetime", c.Tokens.SessionLifetime, 2160 * time.Hour},
		{"tokens.leeway", c.Tokens.Leeway, 30 * time.Second},
		{"tokens.refresh_reuse_grace", c.Tokens.ReuseGrace(), 30 * time.Second},
		{"tokens.keys", len(c.Tokens.Keys), 0},
		{"tokens.signing_key", c.Tokens.SigningKey, ""},
		{"tokens.cache_size", c.Tokens.CacheSize, 100000},
		{"transport.bearer", *c.Transport.Bearer, true},
		{"transport.cookies.enabled", c.Transport.Cookies.Enabled, false},
		{"transport.cookies.access_name", c.Transport.Cookies.AccessName, "authgate_access"},
		{"transport.cookies.refresh_name", c.Transport.Cookies.RefreshName, "authgate_refresh"},
		{"transport.cookies.secure", *c.Transport.Cookies.Secure, true},
		{"transport.cookies.same_site", c.Transport.Cookies.SameSite, "lax"},
		{"passwords.memory_kib", c.Passwords.Memory, uint32(19456)},
		{"passwords.iterations", c.Passwords.Iterations, uint32(2)},
		{"passwords.parallelism", c.Passwords.Parallelism, uint8(1)},
		{"passwords.max_concurrent", c.Passwords.MaxConcurrent, 2 * runtime.NumCPU()},
		{"passwords.min_length", c.Passwords.MinLength, 8},
		{"passwords.max_length", c.Passwords.MaxLength, 128},
		{"users.registration", c.Users.Registration, false},
		{"users.default_roles", c.Users.DefaultRoles, []string{"user"}},
		{"users.admin_role", c.Users.AdminRole, "admin"},
		{"rate_limits.login_per_ip", c.RateLimits.LoginPerIP, "30-M"},
		{"rate_limits.login_per_username", c.RateLimits.LoginPerUsername, "10-M"},
		{"rate_limits.lockout_failures", c.RateLimits.LockoutFailures, 10},
		{"rate_limits.lockout_window", c.RateLimits.LockoutWindow, 15 * time.Minute},
		{"rate_limits.lockout_duration", c.RateLimits.LockoutDuration, 15 * time.Minute},
		{"rate_limits.refresh_per_ip", c.RateLimits.RefreshPerIP, "60-M"},
		{"rate_limits.mail_per_ip", c.RateLimits.MailPerIP, "10-H"},
		{"rate_limits.mail_per_email", c.RateLimits.MailPerEmail, "3-H"},
		{"default_policy", c.DefaultPolicy, "deny"},
		{"identity_headers.user_id", c.IdentityHeaders.UserID, "X-User-Id"},
		{"identity_headers.name", c.IdentityHeaders.Name, "X-User-Name"},
		{"identity_headers.email", c.IdentityHeaders.Email, "X-User-Email"},
		{"identity_headers.roles", c.IdentityHeaders.Roles, "X-User-Roles"},
		{"identity_headers.forward_token", c.IdentityHeaders.ForwardToken, false},
		{"trusted_proxies", len(c.TrustedProxies), 0},
		{"routes.login", c.Routes.Login, "/auth"},
		{"routes.refresh", c.Routes.Refresh, "/auth/refresh"},
		{"routes.me", c.Routes.Me, "/me"},
		{"routes.logout", c.Routes.Logout, "/logout"},
		{"routes.verify", c.Routes.Verify, "/auth/verify"},
		{"routes.jwks", c.Routes.JWKS, "/.well-known/jwks.json"},
		{"routes.register", c.Routes.Register, "/auth/register"},
		{"routes.verify_email", c.Routes.VerifyEmail, "/auth/verify-email"},
		{"routes.verify_email_request", c.Routes.VerifyEmailReq, "/auth/verify-email/request"},
		{"routes.forgot_password", c.Routes.ForgotPassword, "/auth/forgot-password"},
		{"routes.reset_password", c.Routes.ResetPassword, "/auth/reset-password"},
		{"routes.change_password", c.Routes.ChangePassword, "/auth/password"},
		{"routes.users", c.Routes.Users, "/auth/users"},
		{"routes.healthz", c.Routes.Healthz, "/healthz"},
		{"routes.readyz", c.Routes.Readyz, "/readyz"},
		{"routes.metrics", c.Routes.Metrics, "/metrics"},
		{"mail.driver", c.Mail.Driver, "log"},
		{"mail.from", c.Mail.From, "authgate@localhost"},
		{"mail.verify_url", c.Mail.VerifyURL, "http://localhost:8080/auth/verify-email?token="},
		{"mail.reset_url", c.Mail.ResetURL, "http://localhost:8080/auth/reset-password?token="},
		{"mail.smtp.port", c.Mail.SMTP.Port, 587},
		{"mail.smtp.security", c.Mail.SMTP.Security, "starttls"},
		{"mail.smtp.timeout", c.Mail.SMTP.Timeout, 10 * time.Second},
		{"one_time_tokens.verify_ttl", c.OneTimeTokens.VerifyTTL, 24 * time.Hour},
		{"one_time_tokens.reset_ttl", c.OneTimeTokens.ResetTTL, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.field, tt.got, tt.want)
			}
		})
	}
}

func TestApplyDefaultsDerivesFromOtherFields(t *testing.T) {
	tests := []struct {
		name  string
		in    Config
		check func(c *Config) (got, want any)
	}{
		{"store path follows data_dir", Config{DataDir: "/var/lib/authgate"},
			func(c *Config) (any, any) { return c.Store.Path, "/var/lib/authgate/authgate.db" }},
		{"explicit store path kept", Config{DataDir: "/var/lib/authgate", Store: Store{Path: "/db/x.db"}},
			func(c *Config) (any, any) { return c.Store.Path, "/db/x.db" }},
		{"key alg defaults to EdDSA", Config{Tokens: Tokens{Keys: []Key{{Kid: "a"}}}},
			func(c *Config) (any, any) { return c.Tokens.Keys[0].Alg, "EdDSA" }},
		{"signing key is the first not verify_only", Config{Tokens: Tokens{Keys: []Key{{Kid: "old", VerifyOnly: true}, {Kid: "new"}, {Kid: "newer"}}}},
			func(c *Config) (any, any) { return c.Tokens.SigningKey, "new" }},
		{"explicit signing key kept", Config{Tokens: Tokens{SigningKey: "newer", Keys: []Key{{Kid: "new"}, {Kid: "newer"}}}},
			func(c *Config) (any, any) { return c.Tokens.SigningKey, "newer" }},
		{"mail links use listen port and host", Config{Listen: "10.0.0.1:9999"},
			func(c *Config) (any, any) { return c.Mail.VerifyURL, "http://10.0.0.1:9999/auth/verify-email?token=" }},
		{"mail links on a wildcard address use localhost", Config{Listen: "0.0.0.0:8081"},
			func(c *Config) (any, any) { return c.Mail.ResetURL, "http://localhost:8081/auth/reset-password?token=" }},
		{"mail links use https with tls", Config{TLS: TLS{CertFile: "c", KeyFile: "k"}},
			func(c *Config) (any, any) {
				return c.Mail.ResetURL, "https://localhost:8080/auth/reset-password?token="
			}},
		{"mail links follow custom routes", Config{Routes: Routes{VerifyEmail: "/v"}},
			func(c *Config) (any, any) { return c.Mail.VerifyURL, "http://localhost:8080/v?token=" }},
		{"explicit false bearer kept", Config{Transport: Transport{Bearer: new(bool)}},
			func(c *Config) (any, any) { return *c.Transport.Bearer, false }},
		{"rate off kept", Config{RateLimits: RateLimits{LoginPerIP: RateOff}},
			func(c *Config) (any, any) { return c.RateLimits.LoginPerIP, "off" }},
		{"zero refresh reuse grace kept", Config{Tokens: Tokens{RefreshReuseGrace: new(time.Duration)}},
			func(c *Config) (any, any) { return c.Tokens.ReuseGrace(), time.Duration(0) }},
		{"negative lockout kept", Config{RateLimits: RateLimits{LockoutFailures: -1}},
			func(c *Config) (any, any) { return c.RateLimits.LockoutFailures, -1 }},
		{"implicit TLS smtp defaults to port 465", Config{Mail: Mail{SMTP: SMTP{Security: "tls"}}},
			func(c *Config) (any, any) { return c.Mail.SMTP.Port, 465 }},
		{"explicit audience kept", Config{Tokens: Tokens{Audience: []string{"a", "b"}}},
			func(c *Config) (any, any) { return c.Tokens.Audience, []string{"a", "b"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			ApplyDefaults(&c)
			if got, want := tt.check(&c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestApplyDefaultsIsIdempotent(t *testing.T) {
	c := Config{RateLimits: RateLimits{LoginPerIP: RateOff, LockoutFailures: -1}, Tokens: Tokens{Keys: []Key{{Kid: "a"}}}}
	ApplyDefaults(&c)
	once := c
	ApplyDefaults(&c)
	if !reflect.DeepEqual(once, c) {
		t.Errorf("second ApplyDefaults changed the config:\n%+v\n%+v", once, c)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := &Config{}
	ApplyDefaults(c)
	if ps := Validate(c); len(ps) != 0 {
		t.Errorf("Validate(defaults) = %v, want no problems", ps)
	}
}
