// Package config loads gateway.yaml: it parses it strictly (unknown keys are
// errors), expands ${ENV} references in values, applies defaults in one place
// (ApplyDefaults) and validates the result (Validate), naming the YAML path
// of every field that is wrong.
//
// Relative file and directory paths in the config are relative to the
// working directory of the gateway, not to the config file.
package config

import "time"

// Config is the whole gateway.yaml. Every field documents its default.
type Config struct {
	// Listen is the address of the gateway. Default ":8080".
	Listen string `yaml:"listen"`
	// AdminListen is the address of the admin listener, which serves
	// /metrics, /healthz and /readyz, and never the public routes. "off"
	// turns it off. Default "127.0.0.1:8081" (loopback: the metrics are not
	// public unless an operator makes them so).
	AdminListen string `yaml:"admin_listen"`
	// TLS enables HTTPS on Listen when both files are set.
	TLS TLS `yaml:"tls"`
	// DataDir holds the embedded store and generated keys. Default "./data".
	DataDir string `yaml:"data_dir"`
	Log     Log    `yaml:"log"`
	// Audit is the security-event stream, apart from the log.
	Audit Audit `yaml:"audit"`
	// Reload says how the config file is reloaded besides SIGHUP.
	Reload Reload `yaml:"reload"`
	// Tracing exports OpenTelemetry traces. Off by default.
	Tracing Tracing `yaml:"tracing"`
	// Server holds limits and timeouts of the HTTP server.
	Server Server `yaml:"server"`
	// Upstreams are where allowed requests are proxied.
	Upstreams Upstreams `yaml:"upstreams"`
	// Requests says what is refused or removed before a request is
	// proxied, whatever the rules say.
	Requests  Requests  `yaml:"requests"`
	Store     Store     `yaml:"store"`
	Tokens    Tokens    `yaml:"tokens"`
	Transport Transport `yaml:"transport"`
	Passwords Passwords `yaml:"passwords"`
	Users     Users     `yaml:"users"`
	// RateLimits protect login, refresh and the mail-sending routes.
	RateLimits RateLimits `yaml:"rate_limits"`
	// Rules are matched in order; the first match decides.
	Rules []Rule `yaml:"rules"`
	// DefaultPolicy applies to requests no rule matches. Default "deny".
	DefaultPolicy string `yaml:"default_policy"`
	// IdentityHeaders names the headers set on upstream requests.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers"`
	// TrustedProxies are CIDRs (or single IPs) whose X-Forwarded-* and
	// X-Original-* headers are believed. Default: none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Routes are the paths of the gateway's own routes.
	Routes Routes `yaml:"routes"`
	Mail   Mail   `yaml:"mail"`
	// OneTimeTokens sets lifetimes of emailed tokens.
	OneTimeTokens OneTimeTokens `yaml:"one_time_tokens"`
	// Browser configures the sign-in pages for people in a browser.
	Browser Browser `yaml:"browser"`
	// Providers are external identity providers to sign in through.
	Providers []Provider `yaml:"providers"`
	// MFA configures second factors (TOTP, passkeys, recovery codes).
	MFA MFA `yaml:"mfa"`

	// warnings found by Load; see Warnings.
	warnings Problems
}

// TLS is an optional certificate for Listen.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Log configures the structured logs on stderr.
type Log struct {
	// Format is "text" or "json". Default "text".
	Format string `yaml:"format"`
	// Level is "debug", "info", "warn" or "error". Default "info".
	Level string `yaml:"level"`
}

// Audit configures the audit log: security events as JSON lines.
type Audit struct {
	// Output is "off", "stdout", "stderr" or a file path (appended to,
	// created with mode 0600). Default "off".
	Output string `yaml:"output"`
}

// Reload configures reloading the config file while authgate runs.
type Reload struct {
	// Watch reloads the file when it changes on disk (fsnotify on its
	// directory, so an editor's rename-over and a Kubernetes ConfigMap's
	// symlink swap are seen too), as SIGHUP does. Default false.
	Watch bool `yaml:"watch"`
}

// Tracing exports OpenTelemetry traces of the requests over OTLP/HTTP
// (package tracing, docs/tracing.md).
type Tracing struct {
	// Enabled turns tracing on. Default false: no tracer runs and no span
	// is made; a client's traceparent then passes to the upstream as any
	// other header.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the OTLP/HTTP traces URL of a collector, such as
	// http://otel-collector:4318/v1/traces (a URL without a path gets
	// /v1/traces). https:// uses TLS; http:// sends in clear. Required when
	// enabled.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of new traces recorded, in (0, 1]; a trace a
	// trusted proxy started keeps that proxy's sampling decision. Default 1.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans. Default "authgate".
	ServiceName string `yaml:"service_name"`
	// Headers are sent with every export (a collector's API key; give
	// secrets as ${ENV}). Default: none.
	Headers map[string]string `yaml:"headers"`
}

// Server holds HTTP server limits.
type Server struct {
	// BodyLimit is the largest request body accepted by the gateway's own
	// routes, in bytes. Proxied bodies are streamed and not limited by it.
	// Default 1 MiB.
	BodyLimit int `yaml:"body_limit"`
	// ReadTimeout bounds reading a request's headers. Default 10s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response of the gateway's own routes.
	// Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds draining in-flight requests on SIGTERM.
	// Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// FastPath serves bodiless GET and HEAD requests that are proxied with
	// event loops instead of the Fiber app (Linux, plain TCP listener,
	// http upstreams). Same behaviour, about half the CPU. Default true.
	FastPath *bool `yaml:"fast_path"`
	// MetricsOnListen also serves /metrics on Listen, the public listener.
	// Default false: metrics are on admin_listen only.
	MetricsOnListen bool `yaml:"metrics_on_listen"`
}

// AdminOff is the admin_listen value that turns the admin listener off.
const AdminOff = "off"

// DefaultAdminListen is admin_listen's default: loopback only.
const DefaultAdminListen = "127.0.0.1:8081"

// AdminAddr is the address of the admin listener, or "" when it is off.
func (c *Config) AdminAddr() string {
	if c.AdminListen == AdminOff {
		return ""
	}
	return c.AdminListen
}

// Requests are the request checks made before the rules.
type Requests struct {
	// RefuseMethods are answered 405 on proxied paths before any rule.
	// Default [TRACE, CONNECT]: TRACE echoes the request, credentials
	// included, and CONNECT asks for a tunnel. [] refuses none.
	RefuseMethods []string `yaml:"refuse_methods"`
	// StripHeaders are removed from every proxied request, in every
	// spelling (case, '_' or '.' for '-'). Default: the method-override
	// and URL-rewrite headers that make some frameworks (Symfony, Laravel,
	// Rails, ASP.NET, IIS) serve another method or path than the one the
	// rules decided: X-HTTP-Method-Override, X-HTTP-Method,
	// X-Method-Override and X-Rewrite-URL. X-Original-URL and every other
	// X-Original-* are always removed. [] strips none.
	StripHeaders []string `yaml:"strip_headers"`
}

// Upstreams are the backends behind the gateway.
type Upstreams struct {
	// Default is the URL of the upstream for rules that name none.
	// Default "http://127.0.0.1:9000" (what `authgate echo` listens on).
	Default string `yaml:"default"`
	// Named upstreams a rule may select by name.
	Named map[string]string `yaml:"named"`
	// DialTimeout bounds connecting to an upstream. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ResponseTimeout bounds waiting for an upstream's response headers;
	// past it the client gets 504. Default 60s.
	ResponseTimeout time.Duration `yaml:"response_timeout"`
	// MaxConnsPerHost bounds pooled connections per upstream. Default 1024.
	MaxConnsPerHost int `yaml:"max_conns_per_host"`
}

// Store selects the backend.
type Store struct {
	// Type is "embedded" (bbolt file in DataDir, the default), "redis" or
	// "memory" (tests only: nothing survives a restart).
	Type string `yaml:"type"`
	// Path of the embedded database. Default "<data_dir>/authgate.db".
	Path  string `yaml:"path"`
	Redis Redis  `yaml:"redis"`
}

// Redis configures the shared store. Set exactly one of URL,
// Sentinel.Addrs or ClusterAddrs.
type Redis struct {
	// URL like redis://user:pass@host:6379/0 or rediss:// for TLS.
	URL string `yaml:"url"`
	// Sentinel: master name and sentinel addresses.
	Sentinel Sentinel `yaml:"sentinel"`
	// ClusterAddrs are seed addresses of a Redis Cluster.
	ClusterAddrs []string `yaml:"cluster_addrs"`
	// Username and Password for Sentinel/Cluster (a URL carries its own).
	// Give the password as ${ENV} or with PasswordFile.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// DB for URL and Sentinel mode. Default 0 (or the URL's).
	DB int `yaml:"db"`
	// Prefix of every key. Default "authgate:".
	Prefix string `yaml:"prefix"`
	// Timeout of each Redis call. Default 2s.
	Timeout time.Duration `yaml:"timeout"`
}

// Sentinel names a Redis Sentinel deployment.
type Sentinel struct {
	Master string   `yaml:"master"`
	Addrs  []string `yaml:"addrs"`
}

// Tokens configures access and refresh tokens.
type Tokens struct {
	// Issuer is the `iss` claim. Default "authgate".
	Issuer string `yaml:"issuer"`
	// Audience is the `aud` claim; tokens must carry one of them.
	// Default ["authgate"].
	Audience []string `yaml:"audience"`
	// AccessTTL is the life of an access token. Default 15m.
	AccessTTL time.Duration `yaml:"access_ttl"`
	// RefreshTTL is the life of a refresh token; each rotation starts it
	// again. Default 720h (30 days).
	RefreshTTL time.Duration `yaml:"refresh_ttl"`
	// SessionLifetime is the absolute end of a session however often it is
	// refreshed. Default 2160h (90 days).
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// Leeway tolerated on exp/iat/nbf for clock skew. Default 30s.
	Leeway time.Duration `yaml:"leeway"`
	// RefreshReuseGrace is how long after a refresh token was rotated
	// presenting it again is a replay (the same new refresh token is
	// handed out again, nothing is revoked) instead of reuse (the session
	// is revoked): it covers retries after a lost answer and tabs
	// refreshing at once. Default 30s; 0s: every second presentation is
	// reuse; at most MaxRefreshReuseGrace. Read it with ReuseGrace.
	RefreshReuseGrace *time.Duration `yaml:"refresh_reuse_grace"`
	// Keys sign and verify access tokens. Empty: an EdDSA key is generated
	// on first start and kept in <data_dir>/keys.
	Keys []Key `yaml:"keys"`
	// SigningKey is the kid of the key that signs. Default: the first key
	// that is not verify_only.
	SigningKey string `yaml:"signing_key"`
	// CacheSize bounds the number of verified tokens kept in memory so the
	// hot path does not verify a signature twice. Default 100000.
	CacheSize int `yaml:"cache_size"`
	// TrustedIssuers are other issuers whose JWTs are accepted on proxied
	// and forward-auth requests (service-to-service calls). Default: none.
	TrustedIssuers []TrustedIssuer `yaml:"trusted_issuers"`
}

// MaxRefreshReuseGrace bounds tokens.refresh_reuse_grace: the window also
// lets whoever holds a just-spent token get its successor.
const MaxRefreshReuseGrace = 5 * time.Minute

// ReuseGrace is RefreshReuseGrace, 0 when unset.
func (t Tokens) ReuseGrace() time.Duration {
	if t.RefreshReuseGrace == nil {
		return 0
	}
	return *t.RefreshReuseGrace
}

// Key is one signing or verification key.
type Key struct {
	// Kid is the key ID put in the token header and the JWKS. Required.
	Kid string `yaml:"kid"`
	// Alg is "EdDSA", "ES256", "RS256" or "HS256". Default "EdDSA".
	Alg string `yaml:"alg"`
	// PrivateKeyFile is a PEM (PKCS#8, or SEC1/PKCS#1) private key for
	// EdDSA, ES256 and RS256.
	PrivateKeyFile string `yaml:"private_key_file"`
	// PublicKeyFile is a PEM public key: enough for a verify_only key.
	PublicKeyFile string `yaml:"public_key_file"`
	// Secret is the HS256 secret (at least 32 bytes); give it as ${ENV}.
	Secret string `yaml:"secret"`
	// SecretFile holds the HS256 secret.
	SecretFile string `yaml:"secret_file"`
	// VerifyOnly keys verify tokens but never sign (rotation).
	VerifyOnly bool `yaml:"verify_only"`
}

// Transport says where tokens travel.
type Transport struct {
	// Bearer accepts `Authorization: Bearer`. Default true.
	Bearer *bool `yaml:"bearer"`
	// Cookies, when enabled, sets HttpOnly cookies on login/refresh and
	// reads tokens from them.
	Cookies Cookies `yaml:"cookies"`
}

// Cookies configures cookie transport.
type Cookies struct {
	Enabled bool `yaml:"enabled"`
	// AccessName default "authgate_access"; RefreshName default
	// "authgate_refresh".
	AccessName  string `yaml:"access_name"`
	RefreshName string `yaml:"refresh_name"`
	Domain      string `yaml:"domain"`
	// Secure default true.
	Secure *bool `yaml:"secure"`
	// SameSite is "strict", "lax" or "none". Default "lax".
	SameSite string `yaml:"same_site"`
	// Domains share the session across subdomains: a request whose host is
	// listed gets cookies for that domain (with the __Secure- prefix when
	// secure); any other host gets host-only cookies (__Host- prefix when
	// secure). Not with Domain. Default: none.
	Domains []CookieDomain `yaml:"domains"`
	// CSRF refuses cross-site POST, PUT, PATCH and DELETE requests that
	// carry the session only in a cookie, on authgate's own routes and on
	// proxied ones (a rule may opt out with csrf: false). Default true.
	CSRF *bool `yaml:"csrf"`
}

// Passwords configures hashing and the password policy.
type Passwords struct {
	// Argon2id parameters. Defaults follow OWASP: memory 19456 KiB,
	// iterations 2, parallelism 1.
	Memory      uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
	// MaxConcurrent bounds hashes computed at once (memory = MaxConcurrent
	// × Memory). Default 2 × CPUs.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MinLength and MaxLength (in characters) for new passwords; a login
	// with a password longer than MaxLength bytes ×4 is refused with 400.
	// Defaults 8 and 128.
	MinLength int `yaml:"min_length"`
	MaxLength int `yaml:"max_length"`
}

// Users configures accounts.
type Users struct {
	// Seed users are created at start when absent (by username).
	Seed []SeedUser `yaml:"seed"`
	// Registration enables POST /auth/register. Default false.
	Registration bool `yaml:"registration"`
	// DefaultRoles for registered users. Default ["user"].
	DefaultRoles []string `yaml:"default_roles"`
	// RequireVerifiedEmail refuses login (403) until the email is verified.
	RequireVerifiedEmail bool `yaml:"require_verified_email"`
	// AdminRole may use /auth/users. Default "admin".
	AdminRole string `yaml:"admin_role"`
}

// SeedUser is a user created at start when absent.
type SeedUser struct {
	Username string `yaml:"username"`
	// PasswordHash is argon2id (PHC, from `authgate hash-password`) or bcrypt.
	PasswordHash       string   `yaml:"password_hash"`
	Email              string   `yaml:"email"`
	Roles              []string `yaml:"roles"`
	MustChangePassword bool     `yaml:"must_change_password"`
}

// RateLimits are ulule/limiter rate strings ("5-M": 5 per minute; S, M, H,
// D). "off" disables that limit; absent or empty means its default.
type RateLimits struct {
	// LoginPerIP default "30-M"; LoginPerUsername default "10-M".
	LoginPerIP       string `yaml:"login_per_ip"`
	LoginPerUsername string `yaml:"login_per_username"`
	// LockoutFailures failed logins of one username within LockoutWindow
	// lock it for LockoutDuration. Defaults 10, 15m, 15m. A negative
	// LockoutFailures (-1) disables lockout.
	LockoutFailures int           `yaml:"lockout_failures"`
	LockoutWindow   time.Duration `yaml:"lockout_window"`
	LockoutDuration time.Duration `yaml:"lockout_duration"`
	// RefreshPerIP default "60-M".
	RefreshPerIP string `yaml:"refresh_per_ip"`
	// MailPerIP and MailPerEmail bound the routes that send mail.
	// Defaults "10-H" and "3-H".
	MailPerIP    string `yaml:"mail_per_ip"`
	MailPerEmail string `yaml:"mail_per_email"`
	// SecondFactorPerUser bounds the second-factor checks (codes and
	// passkey assertions) of one user. Default "5-M". Failures also count
	// toward the lockout.
	SecondFactorPerUser string `yaml:"second_factor_per_user"`
}

// Rule decides a request. See docs/rules-and-paths.md for pattern syntax.
type Rule struct {
	// Path is "/exact", "/prefix/*" (one segment) or "/prefix/**" (any
	// depth, also "/prefix" itself). Required.
	Path string `yaml:"path"`
	// Methods limits the rule to these methods. Default: all.
	Methods []string `yaml:"methods"`
	// Hosts limits the rule to these Host names. Default: all.
	Hosts []string `yaml:"hosts"`
	// Policy is "public", "authenticated" or "deny". Required.
	Policy string `yaml:"policy"`
	// Roles: an authenticated user needs any one of them. Default: none.
	Roles []string `yaml:"roles"`
	// Upstream names an entry of upstreams.named. Default: the default.
	Upstream string `yaml:"upstream"`
	// CSRF false lets cross-site state-changing requests authenticated by
	// the session cookie through to an upstream that checks CSRF itself.
	// Default true (transport.cookies.csrf decides).
	CSRF *bool `yaml:"csrf"`
	// AllowBody lets a GET, HEAD, OPTIONS, DELETE or TRACE request that
	// matches the rule carry a body (Content-Length > 0 or chunked).
	// Default false: such a request is refused with 400.
	AllowBody bool `yaml:"allow_body"`
	// MFA "required" lets only tokens that prove a second factor through
	// (issue 11); "" (default) asks for none beyond the policy. Needs
	// policy authenticated.
	MFA string `yaml:"mfa"`
	// MaxAge, with mfa: required, also wants the latest authentication
	// (auth_time) at most this long ago: a step-up. 0 (default): any age.
	MaxAge time.Duration `yaml:"max_age"`
}

// IdentityHeaders names the headers set on upstream requests.
type IdentityHeaders struct {
	// Defaults X-User-Id, X-User-Name, X-User-Email, X-User-Roles.
	UserID string `yaml:"user_id"`
	Name   string `yaml:"name"`
	Email  string `yaml:"email"`
	Roles  string `yaml:"roles"`
	// ForwardToken keeps the Authorization header on upstream requests.
	// Default false: it is removed.
	ForwardToken bool `yaml:"forward_token"`
}

// Routes are the paths of the gateway's own routes.
type Routes struct {
	Login          string `yaml:"login"`                // /auth
	Refresh        string `yaml:"refresh"`              // /auth/refresh
	Me             string `yaml:"me"`                   // /me
	Logout         string `yaml:"logout"`               // /logout
	Verify         string `yaml:"verify"`               // /auth/verify
	JWKS           string `yaml:"jwks"`                 // /.well-known/jwks.json
	Register       string `yaml:"register"`             // /auth/register
	VerifyEmail    string `yaml:"verify_email"`         // /auth/verify-email
	VerifyEmailReq string `yaml:"verify_email_request"` // /auth/verify-email/request
	ForgotPassword string `yaml:"forgot_password"`      // /auth/forgot-password
	ResetPassword  string `yaml:"reset_password"`       // /auth/reset-password
	ChangePassword string `yaml:"change_password"`      // /auth/password
	Users          string `yaml:"users"`                // /auth/users
	Healthz        string `yaml:"healthz"`              // /healthz
	Readyz         string `yaml:"readyz"`               // /readyz
	Metrics        string `yaml:"metrics"`              // /metrics
	// OAuth is the prefix of the provider sign-in routes:
	// <oauth>/<provider>/authorize and <oauth>/<provider>/callback.
	OAuth string `yaml:"oauth"` // /auth/oauth
	// MFA is the prefix of the second-factor routes (docs/second-factors.md);
	// they exist only when mfa.enabled.
	MFA string `yaml:"mfa"` // /auth/mfa
}

// Mail configures outgoing mail for verification and reset links.
type Mail struct {
	// Driver is "log" (print mails to the log, the default) or "smtp".
	Driver string `yaml:"driver"`
	// From address. Default "authgate@localhost".
	From string `yaml:"from"`
	// VerifyURL and ResetURL are put before the token in the links that
	// are mailed, e.g. "https://app.example.com/reset?token=". Defaults:
	// the verify_email and reset_password routes on the gateway itself,
	// "http://localhost:<port of listen>/auth/verify-email?token=" (https
	// with tls).
	VerifyURL string `yaml:"verify_url"`
	ResetURL  string `yaml:"reset_url"`
	// TemplatesDir may hold verify.txt, verify.html, reset.txt, reset.html
	// to override the built-in templates.
	TemplatesDir string `yaml:"templates_dir"`
	SMTP         SMTP   `yaml:"smtp"`
}

// SMTP is the outgoing mail server.
type SMTP struct {
	Host string `yaml:"host"`
	// Port default 587, or 465 when Security is "tls".
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// Password: give it as ${ENV} or with PasswordFile.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Security is "starttls" (default), "tls" or "none".
	Security string `yaml:"security"`
	// Timeout default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// OneTimeTokens sets lifetimes of emailed tokens.
type OneTimeTokens struct {
	// VerifyTTL default 24h; ResetTTL default 1h.
	VerifyTTL time.Duration `yaml:"verify_ttl"`
	ResetTTL  time.Duration `yaml:"reset_ttl"`
	// OAuthStateTTL bounds a provider sign-in from the authorize route to
	// the callback. Default 10m.
	OAuthStateTTL time.Duration `yaml:"oauth_state_ttl"`
}
