package config

import (
	"net"
	"path/filepath"
	"runtime"
	"time"
)

// ApplyDefaults fills every field left at its zero value with the default
// stated in its doc comment. It is the only place defaults are set; it is
// idempotent, and Validate expects a config it has been applied to.
func ApplyDefaults(c *Config) {
	setStr(&c.Listen, ":8080")
	setStr(&c.AdminListen, DefaultAdminListen)
	setStr(&c.DataDir, "./data")
	setStr(&c.Log.Format, "text")
	setStr(&c.Log.Level, "info")
	setStr(&c.Audit.Output, "off")
	setStr(&c.Tracing.ServiceName, "authgate")
	if c.Tracing.SampleRatio == 0 {
		c.Tracing.SampleRatio = 1
	}

	setInt(&c.Server.BodyLimit, 1<<20)
	setDur(&c.Server.ReadTimeout, 10*time.Second)
	setDur(&c.Server.WriteTimeout, 30*time.Second)
	setDur(&c.Server.IdleTimeout, 120*time.Second)
	setDur(&c.Server.ShutdownTimeout, 20*time.Second)
	setBool(&c.Server.FastPath, true)

	setStr(&c.Upstreams.Default, "http://127.0.0.1:9000")
	setDur(&c.Upstreams.DialTimeout, 5*time.Second)
	setDur(&c.Upstreams.ResponseTimeout, 60*time.Second)
	setInt(&c.Upstreams.MaxConnsPerHost, 1024)

	if c.Requests.RefuseMethods == nil {
		c.Requests.RefuseMethods = []string{"TRACE", "CONNECT"}
	}
	if c.Requests.StripHeaders == nil {
		c.Requests.StripHeaders = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Rewrite-URL"}
	}

	setStr(&c.Store.Type, "embedded")
	setStr(&c.Store.Path, filepath.Join(c.DataDir, "authgate.db"))
	setStr(&c.Store.Redis.Prefix, "authgate:")
	setDur(&c.Store.Redis.Timeout, 2*time.Second)

	t := &c.Tokens
	setStr(&t.Issuer, "authgate")
	if len(t.Audience) == 0 {
		t.Audience = []string{"authgate"}
	}
	setDur(&t.AccessTTL, 15*time.Minute)
	setDur(&t.RefreshTTL, 720*time.Hour)
	setDur(&t.SessionLifetime, 2160*time.Hour)
	setDur(&t.Leeway, 30*time.Second)
	if t.RefreshReuseGrace == nil {
		grace := 30 * time.Second
		t.RefreshReuseGrace = &grace
	}
	for i := range t.Keys {
		setStr(&t.Keys[i].Alg, "EdDSA")
	}
	if t.SigningKey == "" {
		for _, k := range t.Keys {
			if !k.VerifyOnly {
				t.SigningKey = k.Kid
				break
			}
		}
	}
	setInt(&t.CacheSize, 100_000)

	setBool(&c.Transport.Bearer, true)
	ck := &c.Transport.Cookies
	setStr(&ck.AccessName, "authgate_access")
	setStr(&ck.RefreshName, "authgate_refresh")
	setBool(&ck.Secure, true)
	setStr(&ck.SameSite, "lax")

	p := &c.Passwords
	if p.Memory == 0 {
		p.Memory = 19456
	}
	if p.Iterations == 0 {
		p.Iterations = 2
	}
	if p.Parallelism == 0 {
		p.Parallelism = 1
	}
	setInt(&p.MaxConcurrent, 2*runtime.NumCPU())
	setInt(&p.MinLength, 8)
	setInt(&p.MaxLength, 128)

	if len(c.Users.DefaultRoles) == 0 {
		c.Users.DefaultRoles = []string{"user"}
	}
	setStr(&c.Users.AdminRole, "admin")

	r := &c.RateLimits
	setStr(&r.LoginPerIP, "30-M")
	setStr(&r.LoginPerUsername, "10-M")
	setInt(&r.LockoutFailures, 10)
	setDur(&r.LockoutWindow, 15*time.Minute)
	setDur(&r.LockoutDuration, 15*time.Minute)
	setStr(&r.RefreshPerIP, "60-M")
	setStr(&r.MailPerIP, "10-H")
	setStr(&r.MailPerEmail, "3-H")
	setStr(&r.SecondFactorPerUser, "5-M")

	setStr(&c.DefaultPolicy, "deny")

	h := &c.IdentityHeaders
	setStr(&h.UserID, "X-User-Id")
	setStr(&h.Name, "X-User-Name")
	setStr(&h.Email, "X-User-Email")
	setStr(&h.Roles, "X-User-Roles")

	rt := &c.Routes
	setStr(&rt.Login, "/auth")
	setStr(&rt.Refresh, "/auth/refresh")
	setStr(&rt.Me, "/me")
	setStr(&rt.Logout, "/logout")
	setStr(&rt.Verify, "/auth/verify")
	setStr(&rt.JWKS, "/.well-known/jwks.json")
	setStr(&rt.Register, "/auth/register")
	setStr(&rt.VerifyEmail, "/auth/verify-email")
	setStr(&rt.VerifyEmailReq, "/auth/verify-email/request")
	setStr(&rt.ForgotPassword, "/auth/forgot-password")
	setStr(&rt.ResetPassword, "/auth/reset-password")
	setStr(&rt.ChangePassword, "/auth/password")
	setStr(&rt.Users, "/auth/users")
	setStr(&rt.Healthz, "/healthz")
	setStr(&rt.Readyz, "/readyz")
	setStr(&rt.Metrics, "/metrics")
	setStr(&rt.OAuth, "/auth/oauth")
	setStr(&rt.MFA, "/auth/mfa")

	browserDefaults(c)
	m := &c.Mail
	setStr(&m.Driver, "log")
	setStr(&m.From, "authgate@localhost")
	base := selfURL(c.Listen, c.TLS.CertFile != "" && c.TLS.KeyFile != "")
	if c.Browser.Enabled { // the links open the pages
		setStr(&m.VerifyURL, base+c.Browser.Path+"/verify-email?token=")
		setStr(&m.ResetURL, base+c.Browser.Path+"/reset-password?token=")
	}
	setStr(&m.VerifyURL, base+rt.VerifyEmail+"?token=")
	setStr(&m.ResetURL, base+rt.ResetPassword+"?token=")
	setStr(&m.SMTP.Security, "starttls")
	if m.SMTP.Security == "tls" {
		setInt(&m.SMTP.Port, 465) // implicit TLS
	}
	setInt(&m.SMTP.Port, 587)
	setDur(&m.SMTP.Timeout, 10*time.Second)

	setDur(&c.OneTimeTokens.VerifyTTL, 24*time.Hour)
	setDur(&c.OneTimeTokens.ResetTTL, time.Hour)
	setDur(&c.OneTimeTokens.OAuthStateTTL, 10*time.Minute)
	applyProviderDefaults(c)
	applyIssuerDefaults(&c.Tokens)
	mfaDefaults(c)
}

// selfURL is the gateway's own base URL as seen from its host: listen ":8080"
// gives "http://localhost:8080".
func selfURL(listen string, tls bool) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return scheme + "localhost"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}

func setStr(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func setDur(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}

func setBool(p **bool, def bool) {
	if *p == nil {
		*p = &def
	}
}
