package config

import (
	"strings"
	"testing"
	"time"
)

const (
	argonHash  = "$argon2id$v=19$m=19456,t=2,p=1$2/55y/ba/KlcsNVgAsJpsg$GCCfbHq2Od2PDfMpQ4o0mgLfUxfTwG2HbxtEh6E2iXU"
	bcryptHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	secret32   = "0123456789abcdef0123456789abcdef"
)

func TestValidateReportsEachProblem(t *testing.T) {
	keyFile := writeFile(t, "k.pem", "pem")
	ptrFalse := func() *bool { b := false; return &b }
	tests := []struct {
		name    string
		mutate  func(c *Config)
		path    string
		msg     string
		warning bool
	}{
		// listen, tls, log, server
		{"bad listen", func(c *Config) { c.Listen = "8080" }, "listen", `invalid address "8080"`, false},
		{"bad listen port", func(c *Config) { c.Listen = ":99999" }, "listen", "invalid address", false},
		{"admin listen equal to listen", func(c *Config) { c.AdminListen = ":8080" }, "admin_listen", "must differ from listen", false},
		{"audit output in a missing directory", func(c *Config) { c.Audit.Output = "/nonexistent-dir/audit.log" }, "audit.output", "directory does not exist", false},
		{"tracing without endpoint", func(c *Config) { c.Tracing.Enabled = true }, "tracing.endpoint", "required when tracing is enabled", false},
		{"tracing endpoint scheme", func(c *Config) { c.Tracing.Enabled = true; c.Tracing.Endpoint = "otel:4318" }, "tracing.endpoint", "an http:// or https:// URL", false},
		{"tracing endpoint user", func(c *Config) { c.Tracing.Enabled = true; c.Tracing.Endpoint = "http://u:p@otel:4318" }, "tracing.endpoint", "no user", false},
		{"tracing sample ratio", func(c *Config) { c.Tracing.SampleRatio = 1.5 }, "tracing.sample_ratio", "in (0, 1]", false},
		{"tracing negative ratio", func(c *Config) { c.Tracing.SampleRatio = -0.1 }, "tracing.sample_ratio", "in (0, 1]", false},
		{"tracing header name", func(c *Config) { c.Tracing.Headers = map[string]string{"Bad Name": "x"} }, "tracing.headers.Bad Name", "not a valid header name", false},
		{"tracing header value", func(c *Config) { c.Tracing.Headers = map[string]string{"X-Key": "a\r\nb"} }, "tracing.headers.X-Key", "CR, LF or NUL", false},
		{"tls half set", func(c *Config) { c.TLS.CertFile = keyFile }, "tls", "set both cert_file and key_file", false},
		{"tls file missing", func(c *Config) { c.TLS = TLS{CertFile: "/nonexistent.crt", KeyFile: keyFile} }, "tls.cert_file", "no such file", false},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", "must be one of text, json", false},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, "log.level", "must be one of debug, info, warn, error", false},
		{"body limit", func(c *Config) { c.Server.BodyLimit = -1 }, "server.body_limit", "must be positive", false},
		{"read timeout", func(c *Config) { c.Server.ReadTimeout = -time.Second }, "server.read_timeout", "must be positive", false},
		{"shutdown timeout", func(c *Config) { c.Server.ShutdownTimeout = -time.Second }, "server.shutdown_timeout", "must be positive", false},

		// upstreams
		{"upstream scheme", func(c *Config) { c.Upstreams.Default = "ftp://x" }, "upstreams.default", `invalid URL "ftp://x"`, false},
		{"upstream without scheme", func(c *Config) { c.Upstreams.Default = "127.0.0.1:9000" }, "upstreams.default", `invalid URL "127.0.0.1:9000": use http://`, false},
		{"upstream path", func(c *Config) { c.Upstreams.Default = "http://x:9000/api" }, "upstreams.default", "must not have a path", false},
		{"upstream query", func(c *Config) { c.Upstreams.Default = "http://x?a=1" }, "upstreams.default", "must not have a query", false},
		{"upstream userinfo hidden", func(c *Config) { c.Upstreams.Default = "http://u:hunter2@x" }, "upstreams.default", `"http://u:xxxxx@x": must not hold user:password@`, false},
		{"upstream no host", func(c *Config) { c.Upstreams.Default = "http://" }, "upstreams.default", "no host", false},
		{"upstream bad port", func(c *Config) { c.Upstreams.Default = "http://x:0" }, "upstreams.default", "bad port", false},
		{"named upstream", func(c *Config) { c.Upstreams.Named = map[string]string{"api": "http://x/y"} }, "upstreams.named.api", "must not have a path", false},
		{"dial timeout", func(c *Config) { c.Upstreams.DialTimeout = -1 }, "upstreams.dial_timeout", "must be positive", false},

		// store
		{"store type", func(c *Config) { c.Store.Type = "sql" }, "store.type", "must be one of embedded, redis, memory", false},
		{"memory store warns", func(c *Config) { c.Store.Type = "memory" }, "store.type", "for tests only", true},
		{"redis none set", func(c *Config) { c.Store.Type = "redis" }, "store.redis", "set exactly one of url, sentinel.addrs, cluster_addrs", false},
		{"redis two set", func(c *Config) {
			c.Store.Type = "redis"
			c.Store.Redis.URL = "redis://x:6379"
			c.Store.Redis.ClusterAddrs = []string{"a:1"}
		}, "store.redis", "set exactly one of", false},
		{"redis url", func(c *Config) { c.Store.Type = "redis"; c.Store.Redis.URL = "http://x" }, "store.redis.url", "invalid Redis URL", false},
		{"redis without shared keys", func(c *Config) { c.Store.Type = "redis"; c.Store.Redis.URL = "redis://x:6379/0" }, "tokens.keys", "generates its own key", true},
		{"redis url error hides password", func(c *Config) { c.Store.Type = "redis"; c.Store.Redis.URL = "redis://u:hunter2@x:bad/0" }, "store.redis.url", "invalid Redis URL", false},
		{"sentinel master", func(c *Config) { c.Store.Type = "redis"; c.Store.Redis.Sentinel.Addrs = []string{"a:26379"} }, "store.redis.sentinel.master", "required", false},
		{"sentinel addr", func(c *Config) {
			c.Store.Type = "redis"
			c.Store.Redis.Sentinel = Sentinel{Master: "m", Addrs: []string{"a:26379", "nope"}}
		}, "store.redis.sentinel.addrs[1]", `invalid address "nope"`, false},
		{"cluster db", func(c *Config) {
			c.Store.Type = "redis"
			c.Store.Redis.ClusterAddrs = []string{"a:1"}
			c.Store.Redis.DB = 2
		}, "store.redis.db", "only database 0", false},
		{"redis ignored", func(c *Config) { c.Store.Redis.URL = "redis://x" }, "store.redis", "ignored unless store.type is redis", true},

		// tokens
		{"access ttl", func(c *Config) { c.Tokens.AccessTTL = -time.Minute }, "tokens.access_ttl", "must be positive", false},
		{"refresh beyond session", func(c *Config) { c.Tokens.RefreshTTL = 100 * time.Hour; c.Tokens.SessionLifetime = 10 * time.Hour }, "tokens.refresh_ttl", "must not exceed session_lifetime", false},
		{"access outlives refresh", func(c *Config) { c.Tokens.AccessTTL = 2 * time.Hour; c.Tokens.RefreshTTL = time.Hour }, "tokens.access_ttl", "outlives refresh_ttl", true},
		{"negative leeway", func(c *Config) { c.Tokens.Leeway = -1 }, "tokens.leeway", "must not be negative", false},
		{"negative refresh reuse grace", func(c *Config) { g := -time.Second; c.Tokens.RefreshReuseGrace = &g }, "tokens.refresh_reuse_grace", "must not be negative", false},
		{"refresh reuse grace over the bound", func(c *Config) { g := 6 * time.Minute; c.Tokens.RefreshReuseGrace = &g }, "tokens.refresh_reuse_grace", "at most 5m0s", false},
		{"refresh reuse grace as long as refresh ttl", func(c *Config) {
			g := time.Minute
			c.Tokens.RefreshReuseGrace, c.Tokens.RefreshTTL, c.Tokens.AccessTTL = &g, time.Minute, time.Minute
		}, "tokens.refresh_reuse_grace", "shorter than refresh_ttl", false},
		{"empty audience", func(c *Config) { c.Tokens.Audience = []string{"a", ""} }, "tokens.audience[1]", "must not be empty", false},
		{"kid required", func(c *Config) { c.Tokens.Keys = []Key{{PrivateKeyFile: keyFile}} }, "tokens.keys[0].kid", "required", false},
		{"kid unique", func(c *Config) {
			c.Tokens.Keys = []Key{{Kid: "a", PrivateKeyFile: keyFile}, {Kid: "a", PrivateKeyFile: keyFile}}
		}, "tokens.keys[1].kid", `duplicate kid "a" (also tokens.keys[0])`, false},
		{"alg unknown", func(c *Config) { c.Tokens.Keys = []Key{{Kid: "a", Alg: "none"}} }, "tokens.keys[0].alg", `unknown algorithm "none"`, false},
		{"alg case", func(c *Config) { c.Tokens.Keys = []Key{{Kid: "a", Alg: "hs256"}} }, "tokens.keys[0].alg", "case-sensitive: HS256", false},
		{"asym without private key", func(c *Config) { c.Tokens.Keys = []Key{{Kid: "a", Alg: "ES256"}} }, "tokens.keys[0].private_key_file", "required for a signing ES256 key", false},
		{"asym with secret", func(c *Config) {
			c.Tokens.Keys = []Key{{Kid: "a", Alg: "RS256", PrivateKeyFile: keyFile, Secret: secret32}}
		}, "tokens.keys[0].secret", "not used by RS256", false},
		{"verify only without public key", func(c *Config) {
			c.Tokens.Keys = []Key{{Kid: "s", PrivateKeyFile: keyFile}, {Kid: "a", VerifyOnly: true}}
		}, "tokens.keys[1]", "needs public_key_file", false},
		{"key file missing", func(c *Config) { c.Tokens.Keys = []Key{{Kid: "a", PrivateKeyFile: "/nonexistent.pem"}} }, "tokens.keys[0].private_key_file", "no such file", false},
		{"hmac without secret", func(c *Config) { c.Tokens.Keys = []Key{{Kid: "a", Alg: "HS256"}} }, "tokens.keys[0].secret", "HS256 needs secret", false},
		{"hmac short secret", func(c *Config) { c.Tokens.Keys = []Key{{Kid: "a", Alg: "HS256", Secret: "short"}} }, "tokens.keys[0].secret", "at least 32 bytes (got 5)", false},
		{"hmac both secrets", func(c *Config) {
			c.Tokens.Keys = []Key{{Kid: "a", Alg: "HS256", Secret: secret32, SecretFile: keyFile}}
		}, "tokens.keys[0]", "set only one of secret and secret_file", false},
		{"hmac with key file", func(c *Config) {
			c.Tokens.Keys = []Key{{Kid: "a", Alg: "HS256", Secret: secret32, PrivateKeyFile: keyFile}}
		}, "tokens.keys[0].private_key_file", "not used by HS256", false},
		{"signing key unknown", func(c *Config) {
			c.Tokens.Keys = []Key{{Kid: "a", PrivateKeyFile: keyFile}}
			c.Tokens.SigningKey = "b"
		}, "tokens.signing_key", `no key with kid "b"`, false},
		{"signing key verify only", func(c *Config) {
			c.Tokens.Keys = []Key{{Kid: "a", PrivateKeyFile: keyFile}, {Kid: "b", PublicKeyFile: keyFile, VerifyOnly: true}}
			c.Tokens.SigningKey = "b"
		}, "tokens.signing_key", `key "b" is verify_only`, false},
		{"no signer", func(c *Config) { c.Tokens.Keys = []Key{{Kid: "b", PublicKeyFile: keyFile, VerifyOnly: true}} }, "tokens.keys", "at least one key must sign", false},
		{"signing key without keys", func(c *Config) { c.Tokens.SigningKey = "a" }, "tokens.signing_key", "tokens.keys is empty", false},

		// transport
		{"no transport", func(c *Config) { c.Transport.Bearer = ptrFalse() }, "transport", "enable bearer or cookies", false},
		{"same site", func(c *Config) { c.Transport.Cookies.SameSite = "Lax" }, "transport.cookies.same_site", "must be one of strict, lax, none", false},
		{"same site none needs secure", func(c *Config) {
			c.Transport.Cookies.SameSite = "none"
			c.Transport.Cookies.Secure = ptrFalse()
		}, "transport.cookies.same_site", "none requires secure", false},
		{"insecure cookies warn", func(c *Config) {
			c.Transport.Cookies.Enabled = true
			c.Transport.Cookies.Secure = ptrFalse()
		}, "transport.cookies.secure", "plain HTTP", true},
		{"cookie name", func(c *Config) { c.Transport.Cookies.AccessName = "a b" }, "transport.cookies.access_name", "invalid cookie name", false},
		{"cookie names distinct", func(c *Config) { c.Transport.Cookies.RefreshName = "authgate_access" }, "transport.cookies.refresh_name", "must differ from access_name", false},

		// passwords
		{"argon2 memory too small", func(c *Config) { c.Passwords.Memory = 4; c.Passwords.Parallelism = 1 }, "passwords.memory_kib", "at least 8 × parallelism", false},
		{"argon2 weak", func(c *Config) { c.Passwords.Memory = 4096; c.Passwords.Iterations = 1 }, "passwords.memory_kib", "weaker than OWASP", true},
		{"max below min", func(c *Config) { c.Passwords.MinLength = 20; c.Passwords.MaxLength = 10 }, "passwords.max_length", "at least min_length (20)", false},
		{"min length negative", func(c *Config) { c.Passwords.MinLength = -1 }, "passwords.min_length", "must be positive", false},

		// users
		{"seed username", func(c *Config) { c.Users.Seed = []SeedUser{{PasswordHash: argonHash}} }, "users.seed[0].username", "required", false},
		{"seed username unique", func(c *Config) {
			c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: argonHash}, {Username: "a", PasswordHash: bcryptHash}}
		}, "users.seed[1].username", "duplicate username", false},
		{"seed hash missing", func(c *Config) { c.Users.Seed = []SeedUser{{Username: "a"}} }, "users.seed[0].password_hash", "required", false},
		{"seed hash plaintext", func(c *Config) { c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: "hunter2"}} }, "users.seed[0].password_hash", "must be an argon2id hash", false},
		{"seed hash argon2i", func(c *Config) {
			c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}}
		}, "users.seed[0].password_hash", "must be an argon2id hash", false},
		{"seed hash truncated", func(c *Config) { c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: argonHash[:40]}} }, "users.seed[0].password_hash", "invalid argon2id hash", false},
		{"seed hash bad params", func(c *Config) {
			c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: strings.Replace(argonHash, "t=2", "t=0", 1)}}
		}, "users.seed[0].password_hash", `parameter "t=0"`, false},
		{"seed bcrypt truncated", func(c *Config) { c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: bcryptHash[:30]}} }, "users.seed[0].password_hash", "invalid bcrypt hash", false},
		{"seed email", func(c *Config) {
			c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: argonHash, Email: "Bob <b@x>"}}
		}, "users.seed[0].email", "invalid email address", false},
		{"seed role comma", func(c *Config) {
			c.Users.Seed = []SeedUser{{Username: "a", PasswordHash: argonHash, Roles: []string{"a,b"}}}
		}, "users.seed[0].roles[0]", "must not contain spaces or commas", false},
		{"default role empty", func(c *Config) { c.Users.DefaultRoles = []string{""} }, "users.default_roles[0]", "must not be empty", false},

		// rate limits
		{"rate format", func(c *Config) { c.RateLimits.LoginPerIP = "5/M" }, "rate_limits.login_per_ip", `invalid rate "5/M"`, false},
		{"rate period", func(c *Config) { c.RateLimits.MailPerEmail = "5-W" }, "rate_limits.mail_per_email", "invalid rate", false},
		{"rate zero", func(c *Config) { c.RateLimits.RefreshPerIP = "0-M" }, "rate_limits.refresh_per_ip", "invalid rate", false},
		{"lockout window", func(c *Config) { c.RateLimits.LockoutWindow = -time.Minute }, "rate_limits.lockout_window", "must be positive", false},

		// rules
		{"rule path required", func(c *Config) { c.Rules = []Rule{{Policy: "public"}} }, "rules[0].path", "required", false},
		{"rule mfa unknown", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "authenticated", MFA: "always"}} }, "rules[0].mfa", `unknown value "always"`, false},
		{"rule mfa on public", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "public", MFA: "required"}} }, "rules[0].mfa", "only allowed with policy authenticated", false},
		{"rule max_age without mfa", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "authenticated", MaxAge: time.Minute}} }, "rules[0].max_age", "needs mfa: required", false},
		{"rule max_age negative", func(c *Config) {
			c.Rules = []Rule{{Path: "/a", Policy: "authenticated", MFA: "required", MaxAge: -time.Minute}}
		}, "rules[0].max_age", "must be positive", false},
		{"rule path relative", func(c *Config) { c.Rules = []Rule{{Path: "api/**", Policy: "public"}} }, "rules[0].path", "must start with /", false},
		{"rule wildcard in middle", func(c *Config) { c.Rules = []Rule{{Path: "/a/*/b", Policy: "public"}} }, "rules[0].path", "only allowed as the whole last segment", false},
		{"rule partial wildcard", func(c *Config) { c.Rules = []Rule{{Path: "/a/b*", Policy: "public"}} }, "rules[0].path", "only allowed as the whole last segment", false},
		{"rule triple star", func(c *Config) { c.Rules = []Rule{{Path: "/a/***", Policy: "public"}} }, "rules[0].path", "only allowed as the whole last segment", false},
		{"rule dot segment", func(c *Config) { c.Rules = []Rule{{Path: "/a/../b", Policy: "public"}} }, "rules[0].path", "must not contain . or .. segments", false},
		{"rule double slash", func(c *Config) { c.Rules = []Rule{{Path: "/a//b", Policy: "public"}} }, "rules[0].path", "empty segments", false},
		{"rule query", func(c *Config) { c.Rules = []Rule{{Path: "/a?x=1", Policy: "public"}} }, "rules[0].path", "query", false},
		{"rule encoded slash", func(c *Config) { c.Rules = []Rule{{Path: "/a%2Fb", Policy: "public"}} }, "rules[0].path", "must not encode a slash", false},
		{"rule encoded unreserved", func(c *Config) { c.Rules = []Rule{{Path: "/%61dmin", Policy: "public"}} }, "rules[0].path", `write %61 as "a"`, false},
		{"rule bad escape", func(c *Config) { c.Rules = []Rule{{Path: "/a%zz", Policy: "public"}} }, "rules[0].path", "invalid percent-encoding", false},
		{"rule backslash", func(c *Config) { c.Rules = []Rule{{Path: `/a\b`, Policy: "public"}} }, "rules[0].path", "backslash", false},
		{"rule space", func(c *Config) { c.Rules = []Rule{{Path: "/a b", Policy: "public"}} }, "rules[0].path", "spaces", false},
		{"rule policy required", func(c *Config) { c.Rules = []Rule{{Path: "/a"}} }, "rules[0].policy", "required", false},
		{"rule policy unknown", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "allow"}} }, "rules[0].policy", "must be one of public, authenticated, deny", false},
		{"rule method unknown", func(c *Config) {
			c.Rules = []Rule{{Path: "/a", Policy: "public"}, {Path: "/b", Policy: "public"}, {Path: "/c", Policy: "public", Methods: []string{"G T"}}}
		}, "rules[2].methods[0]", `invalid method "G T"`, false},
		{"rule method lower case", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "public", Methods: []string{"get"}}} }, "rules[0].methods[0]", "upper case: GET", false},
		{"rule method twice", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "public", Methods: []string{"GET", "GET"}}} }, "rules[0].methods[1]", "listed twice", true},
		{"rule host with scheme", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "public", Hosts: []string{"https://x.com"}}} }, "rules[0].hosts[0]", "invalid host", false},
		{"rule host empty", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "public", Hosts: []string{""}}} }, "rules[0].hosts[0]", "must not be empty", false},
		{"rule roles need authenticated", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "public", Roles: []string{"admin"}}} }, "rules[0].roles", "only allowed with policy authenticated", false},
		{"rule upstream unknown", func(c *Config) { c.Rules = []Rule{{Path: "/a", Policy: "public", Upstream: "billing"}} }, "rules[0].upstream", `no upstream named "billing" in upstreams.named`, false},
		{"rule upstream on deny", func(c *Config) {
			c.Upstreams.Named = map[string]string{"b": "http://b"}
			c.Rules = []Rule{{Path: "/a", Policy: "deny", Upstream: "b"}}
		}, "rules[0].upstream", "never used", true},
		{"default policy", func(c *Config) { c.DefaultPolicy = "allow" }, "default_policy", "must be one of public, authenticated, deny", false},
		{"public default policy warns", func(c *Config) { c.DefaultPolicy = "public" }, "default_policy", "without a token", true},

		// identity headers
		{"header token", func(c *Config) { c.IdentityHeaders.UserID = "X User" }, "identity_headers.user_id", `invalid header name "X User"`, false},
		{"header distinct", func(c *Config) { c.IdentityHeaders.Roles = "x-user-name" }, "identity_headers.roles", "is also identity_headers.name", false},
		{"header distinct across underscore", func(c *Config) { c.IdentityHeaders.Email = "X_User_Id" }, "identity_headers.email", "is also identity_headers.user_id", false},
		{"header reserved", func(c *Config) { c.IdentityHeaders.Name = "Authorization" }, "identity_headers.name", "pick another name", false},

		// trusted proxies
		{"proxy CIDR", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33"} }, "trusted_proxies[1]", `invalid CIDR "10.0.0.0/33"`, false},
		{"proxy hostname", func(c *Config) { c.TrustedProxies = []string{"localhost"} }, "trusted_proxies[0]", "invalid CIDR", false},
		{"proxy everyone", func(c *Config) { c.TrustedProxies = []string{"0.0.0.0/0"} }, "trusted_proxies[0]", "every client", true},

		// routes
		{"route slash", func(c *Config) { c.Routes.Me = "me" }, "routes.me", "must start with /", false},
		{"route wildcard", func(c *Config) { c.Routes.Login = "/auth/*" }, "routes.login", "must not contain wildcards", false},
		{"route distinct", func(c *Config) { c.Routes.Logout = "/me" }, "routes.logout", `"/me" is also routes.me`, false},

		// mail
		{"mail driver", func(c *Config) { c.Mail.Driver = "sendmail" }, "mail.driver", "must be one of log, smtp", false},
		{"mail from", func(c *Config) { c.Mail.From = "nobody" }, "mail.from", "invalid address", false},
		{"mail link", func(c *Config) { c.Mail.ResetURL = "/reset?token=" }, "mail.reset_url", "absolute", false},
		{"mail templates dir", func(c *Config) { c.Mail.TemplatesDir = keyFile }, "mail.templates_dir", "not a directory", false},
		{"smtp host", func(c *Config) { c.Mail.Driver = "smtp" }, "mail.smtp.host", "required when mail.driver is smtp", false},
		{"smtp port", func(c *Config) { c.Mail.Driver = "smtp"; c.Mail.SMTP.Host = "h"; c.Mail.SMTP.Port = 70000 }, "mail.smtp.port", "from 1 to 65535", false},
		{"smtp security", func(c *Config) { c.Mail.Driver = "smtp"; c.Mail.SMTP.Host = "h"; c.Mail.SMTP.Security = "ssl" }, "mail.smtp.security", "must be one of starttls, tls, none", false},
		{"smtp password needed", func(c *Config) { c.Mail.Driver = "smtp"; c.Mail.SMTP.Host = "h"; c.Mail.SMTP.Username = "u" }, "mail.smtp.password", "required with username", false},
		{"smtp plaintext password", func(c *Config) {
			c.Mail.Driver = "smtp"
			c.Mail.SMTP = SMTP{Host: "h", Username: "u", Password: "p", Security: "none"}
		}, "mail.smtp.security", "unencrypted", true},

		// one-time tokens
		{"verify ttl", func(c *Config) { c.OneTimeTokens.VerifyTTL = -1 }, "one_time_tokens.verify_ttl", "must be positive", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{}
			tt.mutate(c)
			ApplyDefaults(c)
			ps := Validate(c)
			p, ok := findProblem(ps, tt.path, tt.msg)
			if !ok {
				t.Fatalf("want %s: ...%s... in:\n%v", tt.path, tt.msg, ps)
			}
			if p.Warning != tt.warning {
				t.Errorf("Warning = %v, want %v", p.Warning, tt.warning)
			}
			if strings.Contains(ps.Error(), "hunter2") {
				t.Errorf("a password leaked into a problem: %v", ps)
			}
		})
	}
}

func TestValidateAcceptsGoodValues(t *testing.T) {
	keyFile := writeFile(t, "k.pem", "pem")
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"upstream with trailing slash", func(c *Config) { c.Upstreams.Default = "https://api.internal:8443/" }},
		{"ipv6 upstream", func(c *Config) { c.Upstreams.Default = "http://[::1]:9000" }},
		{"listen port 0 for tests", func(c *Config) { c.Listen = "127.0.0.1:0" }},
		{"tracing on", func(c *Config) {
			c.Tracing = Tracing{Enabled: true, Endpoint: "https://otel.example:4318/v1/traces", SampleRatio: 0.01, ServiceName: "edge",
				Headers: map[string]string{"Authorization": "Bearer x"}}
		}},
		{"rotation", func(c *Config) {
			c.Tokens.Keys = []Key{
				{Kid: "old", PublicKeyFile: keyFile, VerifyOnly: true},
				{Kid: "new", Alg: "ES256", PrivateKeyFile: keyFile},
				{Kid: "h", Alg: "HS256", SecretFile: keyFile, VerifyOnly: true},
			}
		}},
		{"redis sentinel", func(c *Config) {
			c.Store.Type = "redis"
			c.Store.Redis.Sentinel = Sentinel{Master: "m", Addrs: []string{"10.0.0.1:26379", "[::1]:26379"}}
			c.Tokens.Keys = []Key{{Kid: "k", Alg: "HS256", Secret: "0123456789abcdef0123456789abcdef"}}
		}},
		{"redis url", func(c *Config) {
			c.Store.Type = "redis"
			c.Store.Redis.URL = "rediss://u:p@x:6380/3"
			c.Tokens.Keys = []Key{{Kid: "k", Alg: "HS256", Secret: "0123456789abcdef0123456789abcdef"}}
		}},
		{"rules of every shape", func(c *Config) {
			c.Upstreams.Named = map[string]string{"b": "http://b:1"}
			c.Rules = []Rule{
				{Path: "/", Policy: "public"},
				{Path: "/**", Policy: "authenticated", Roles: []string{"user"}},
				{Path: "/x/*", Policy: "deny", Methods: []string{"DELETE", "PATCH"}},
				{Path: "/files/a%20b/", Policy: "public", Hosts: []string{"App.Example.com", "*.example.com", "10.0.0.1:8080"}, Upstream: "b"},
			}
		}},
		{"rates off", func(c *Config) {
			c.RateLimits = RateLimits{LoginPerIP: "off", MailPerEmail: "1-D", LockoutFailures: -1}
		}},
		{"bcrypt seed", func(c *Config) {
			c.Users.Seed = []SeedUser{{Username: "b", PasswordHash: bcryptHash, Email: "b@example.com"}}
		}},
		{"single IP proxies", func(c *Config) { c.TrustedProxies = []string{"10.1.2.3", "fd00::/8"} }},
		{"smtp", func(c *Config) {
			c.Mail.Driver = "smtp"
			c.Mail.SMTP = SMTP{Host: "smtp.example.com", Port: 465, Username: "u", Password: "p", Security: "tls"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{}
			tt.mutate(c)
			ApplyDefaults(c)
			if ps := Validate(c); len(ps) != 0 {
				t.Errorf("unexpected problems:\n%v", ps)
			}
		})
	}
}

func TestProblemsErrorFormatsOneLinePerProblem(t *testing.T) {
	ps := Problems{
		{Path: "rules[2].methods[0]", Msg: `invalid method "G T"`, Line: 34},
		{Path: "store.type", Msg: "must be one of embedded, redis, memory"},
		{Path: "store.type", Msg: "memory is for tests", Warning: true},
		{Msg: "invalid YAML: x", Line: 3},
	}
	want := "rules[2].methods[0]: invalid method \"G T\" (line 34)\n" +
		"store.type: must be one of embedded, redis, memory\n" +
		"warning: store.type: memory is for tests\n" +
		"invalid YAML: x (line 3)"
	if got := ps.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if !ps.HasErrors() || ps[2:3].HasErrors() || len(ps.Warnings()) != 1 {
		t.Errorf("HasErrors/Warnings wrong")
	}
}

func TestValidateNilConfig(t *testing.T) {
	if ps := Validate(nil); !ps.HasErrors() {
		t.Errorf("Validate(nil) = %v, want an error", ps)
	}
}
