package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Validate checks a config that ApplyDefaults has been applied to and
// returns every problem it finds, errors and warnings, in the order of the
// Config fields; it never stops at the first. It opens the files the config
// names (keys, certificates, secrets) to check they are readable, and keeps
// nothing from them.
func Validate(c *Config) Problems {
	if c == nil {
		return Problems{{Msg: "no config"}}
	}
	v := &problemList{}
	validateServer(v, c)
	validateUpstreams(v, c)
	validateStore(v, c)
	validateTokens(v, &c.Tokens)
	validateTransport(v, &c.Transport)
	validatePasswords(v, &c.Passwords)
	validateUsers(v, &c.Users)
	validateRateLimits(v, &c.RateLimits)
	validateRules(v, c)
	validateRequests(v, &c.Requests)
	validateIdentityHeaders(v, &c.IdentityHeaders)
	validateTrustedProxies(v, c.TrustedProxies)
	validateRoutes(v, &c.Routes)
	validateMail(v, &c.Mail)
	validateBrowser(v, c)
	positive(v, "one_time_tokens.verify_ttl", c.OneTimeTokens.VerifyTTL)
	positive(v, "one_time_tokens.reset_ttl", c.OneTimeTokens.ResetTTL)
	validateLimits(v, c)
	positive(v, "one_time_tokens.oauth_state_ttl", c.OneTimeTokens.OAuthStateTTL)
	validateProviders(v, c)
	validateIssuers(v, &c.Tokens)
	validateMFA(v, c)
	return v.ps
}

func validateServer(v *problemList, c *Config) {
	checkListenAddr(v, "listen", c.Listen)
	if c.AdminListen != AdminOff {
		checkListenAddr(v, "admin_listen", c.AdminListen)
		if _, port, _ := net.SplitHostPort(c.AdminListen); c.AdminListen == c.Listen && port != "0" {
			v.add("admin_listen", "must differ from listen (to serve /metrics on listen, set server.metrics_on_listen: true)")
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		v.add("tls", "set both cert_file and key_file, or neither")
	}
	checkReadable(v, "tls.cert_file", c.TLS.CertFile)
	checkReadable(v, "tls.key_file", c.TLS.KeyFile)
	oneOf(v, "log.format", c.Log.Format, "text", "json")
	oneOf(v, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	switch c.Audit.Output {
	case "off", "stdout", "stderr":
	default:
		if fi, err := os.Stat(filepath.Dir(c.Audit.Output)); err != nil || !fi.IsDir() {
			v.add("audit.output", fmt.Sprintf("%q: its directory does not exist (use off, stdout, stderr or a file path)", c.Audit.Output))
		}
	}
	validateTracing(v, &c.Tracing)
	if c.Server.BodyLimit < 0 {
		v.add("server.body_limit", "must be positive")
	}
	positive(v, "server.read_timeout", c.Server.ReadTimeout)
	positive(v, "server.write_timeout", c.Server.WriteTimeout)
	positive(v, "server.idle_timeout", c.Server.IdleTimeout)
	positive(v, "server.shutdown_timeout", c.Server.ShutdownTimeout)
}

func validateUpstreams(v *problemList, c *Config) {
	u := &c.Upstreams
	checkUpstreamURL(v, "upstreams.default", u.Default)
	names := make([]string, 0, len(u.Named))
	for name := range u.Named {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := childPath("upstreams.named", name)
		if strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
			v.add(path, "upstream names must not be empty or contain spaces")
		}
		checkUpstreamURL(v, path, u.Named[name])
	}
	positive(v, "upstreams.dial_timeout", u.DialTimeout)
	positive(v, "upstreams.response_timeout", u.ResponseTimeout)
	if u.MaxConnsPerHost < 0 {
		v.add("upstreams.max_conns_per_host", "must be positive")
	}
}

func validateTransport(v *problemList, t *Transport) {
	ck := &t.Cookies
	if t.Bearer != nil && !*t.Bearer && !ck.Enabled {
		v.add("transport", "enable bearer or cookies.enabled, or no token is ever accepted")
	}
	for _, f := range []struct{ path, name string }{
		{"transport.cookies.access_name", ck.AccessName},
		{"transport.cookies.refresh_name", ck.RefreshName},
	} {
		if !isToken(f.name) {
			v.add(f.path, fmt.Sprintf("invalid cookie name %q: use letters, digits and - _ .", f.name))
		}
	}
	if ck.AccessName == ck.RefreshName {
		v.add("transport.cookies.refresh_name", "must differ from access_name")
	}
	if ck.Domain != "" && strings.ContainsAny(ck.Domain, "/:; \t") {
		v.add("transport.cookies.domain", fmt.Sprintf("invalid cookie domain %q: a host name like example.com", ck.Domain))
	}
	oneOf(v, "transport.cookies.same_site", ck.SameSite, "strict", "lax", "none")
	secure := ck.Secure == nil || *ck.Secure
	if ck.SameSite == "none" && !secure {
		v.add("transport.cookies.same_site", "none requires secure: true (browsers drop such cookies)")
	}
	if ck.Enabled && !secure {
		v.warn("transport.cookies.secure", "cookies without Secure are sent over plain HTTP")
	}
}

func validatePasswords(v *problemList, p *Passwords) {
	if uint64(p.Memory) < 8*uint64(p.Parallelism) {
		v.add("passwords.memory_kib", fmt.Sprintf("must be at least 8 × parallelism (%d)", 8*int(p.Parallelism)))
	} else if uint64(p.Memory)*uint64(p.Iterations) < 7168*5 {
		v.warn("passwords.memory_kib", "argon2id is weaker than OWASP's minimum (memory_kib 19456 with iterations 2)")
	}
	if p.MaxConcurrent < 0 {
		v.add("passwords.max_concurrent", "must be positive")
	}
	if p.MinLength < 1 {
		v.add("passwords.min_length", "must be positive")
	}
	if p.MaxLength < p.MinLength {
		v.add("passwords.max_length", fmt.Sprintf("must be at least min_length (%d)", p.MinLength))
	}
}

func validateUsers(v *problemList, u *Users) {
	seen := map[string]int{}
	for i, s := range u.Seed {
		path := indexPath("users.seed", i)
		switch {
		case strings.TrimSpace(s.Username) == "":
			v.add(path+".username", "required")
		case strings.TrimSpace(s.Username) != s.Username:
			v.add(path+".username", "must not start or end with spaces")
		default:
			if j, dup := seen[s.Username]; dup {
				v.add(path+".username", fmt.Sprintf("duplicate username %q (also users.seed[%d])", s.Username, j))
			}
			seen[s.Username] = i
		}
		if s.PasswordHash == "" {
			v.add(path+".password_hash", "required (make one with `authgate hash-password`)")
		} else if msg := passwordHashProblem(s.PasswordHash); msg != "" {
			v.add(path+".password_hash", msg)
		}
		if s.Email != "" {
			if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email {
				v.add(path+".email", fmt.Sprintf("invalid email address %q", s.Email))
			}
		}
		checkRoles(v, path+".roles", s.Roles)
	}
	checkRoles(v, "users.default_roles", u.DefaultRoles)
	if msg := roleProblem(u.AdminRole); msg != "" {
		v.add("users.admin_role", msg)
	}
}

func checkRoles(v *problemList, path string, roles []string) {
	for i, r := range roles {
		if msg := roleProblem(r); msg != "" {
			v.add(indexPath(path, i), msg)
		}
	}
}

// roleProblem says what is wrong with a role name: roles travel in the
// comma-separated X-User-Roles header.
func roleProblem(r string) string {
	if r == "" {
		return "role must not be empty"
	}
	if strings.ContainsAny(r, ", \t\r\n") {
		return fmt.Sprintf("role %q must not contain spaces or commas", r)
	}
	return ""
}

func validateIdentityHeaders(v *problemList, h *IdentityHeaders) {
	seen := map[string]string{}
	for _, f := range []struct{ path, name string }{
		{"identity_headers.user_id", h.UserID},
		{"identity_headers.name", h.Name},
		{"identity_headers.email", h.Email},
		{"identity_headers.roles", h.Roles},
	} {
		if !isToken(f.name) {
			v.add(f.path, fmt.Sprintf("invalid header name %q", f.name))
			continue
		}
		// Distinct also in the underscore and dot spellings that some
		// backends read as the same header.
		key := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(f.name))
		if reservedHeaders[key] {
			v.add(f.path, fmt.Sprintf("%q is a header the gateway or HTTP itself sets; pick another name", f.name))
			continue
		}
		if other, dup := seen[key]; dup {
			v.add(f.path, fmt.Sprintf("header %q is also %s", f.name, other))
			continue
		}
		seen[key] = f.path
	}
}

// reservedHeaders may not carry identity: they are hop-by-hop, set by the
// proxy, or carry credentials.
var reservedHeaders = map[string]bool{
	"authorization": true, "cookie": true, "set-cookie": true, "host": true,
	"connection": true, "keep-alive": true, "proxy-authenticate": true,
	"proxy-authorization": true, "proxy-connection": true, "te": true, "trailer": true,
	"transfer-encoding": true, "upgrade": true, "content-length": true, "content-type": true,
	"x-forwarded-for": true, "x-forwarded-host": true, "x-forwarded-proto": true,
	"x-forwarded-method": true, "x-forwarded-uri": true, "x-original-method": true,
	"x-original-uri": true, "x-real-ip": true, "forwarded": true,
}

func validateRoutes(v *problemList, r *Routes) {
	rv := reflect.ValueOf(r).Elem()
	fields := fieldsOf(rv.Type())
	seen := map[string]string{}
	for _, name := range fieldOrder(rv.Type()) {
		path := childPath("routes", name)
		route := rv.Field(fields.index[name]).String()
		if msg := pathProblem(route, false); msg != "" {
			v.add(path, msg)
			continue
		}
		if other, dup := seen[route]; dup {
			v.add(path, fmt.Sprintf("%q is also %s", route, other))
			continue
		}
		seen[route] = path
	}
}

// fieldOrder returns the yaml names of t's fields in declaration order.
func fieldOrder(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

func validateMail(v *problemList, m *Mail) {
	oneOf(v, "mail.driver", m.Driver, "log", "smtp")
	if a, err := mail.ParseAddress(m.From); err != nil || a.Address == "" {
		v.add("mail.from", fmt.Sprintf("invalid address %q", m.From))
	}
	checkLinkURL(v, "mail.verify_url", m.VerifyURL)
	checkLinkURL(v, "mail.reset_url", m.ResetURL)
	if m.TemplatesDir != "" {
		if st, err := os.Stat(m.TemplatesDir); err != nil {
			v.add("mail.templates_dir", err.Error())
		} else if !st.IsDir() {
			v.add("mail.templates_dir", fmt.Sprintf("%s is not a directory", m.TemplatesDir))
		}
	}
	if m.Driver != "smtp" {
		return
	}
	s := &m.SMTP
	if s.Host == "" {
		v.add("mail.smtp.host", "required when mail.driver is smtp")
	} else if strings.ContainsAny(s.Host, "/ \t") {
		v.add("mail.smtp.host", fmt.Sprintf("invalid host %q: a host name without scheme or port", s.Host))
	}
	if s.Port < 1 || s.Port > 65535 {
		v.add("mail.smtp.port", "must be from 1 to 65535")
	}
	oneOf(v, "mail.smtp.security", s.Security, "starttls", "tls", "none")
	positive(v, "mail.smtp.timeout", s.Timeout)
	switch {
	case s.Username != "" && s.Password == "":
		v.add("mail.smtp.password", "required with username (give it as ${ENV} or with password_file)")
	case s.Username == "" && s.Password != "":
		v.add("mail.smtp.username", "required with password")
	case s.Password != "" && s.Security == "none":
		v.warn("mail.smtp.security", "none sends the SMTP password unencrypted")
	}
}

// oneOf adds a problem unless val is one of allowed.
func oneOf(v *problemList, path, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.add(path, fmt.Sprintf("must be one of %s (got %q)", strings.Join(allowed, ", "), val))
}

func positive(v *problemList, path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "must be positive")
	}
}

// checkReadable adds a problem unless file is empty or a readable file.
func checkReadable(v *problemList, path, file string) {
	if file == "" {
		return
	}
	f, err := os.Open(file)
	if err != nil {
		v.add(path, err.Error())
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		v.add(path, err.Error())
	} else if st.IsDir() {
		v.add(path, fmt.Sprintf("%s is a directory, not a file", file))
	}
}

// isToken reports whether s is an RFC 9110 token: a valid header (and
// cookie) name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validateTracing(v *problemList, t *Tracing) {
	if r := t.SampleRatio; !(r > 0 && r <= 1) {
		v.add("tracing.sample_ratio", fmt.Sprintf("%v: a share of traces in (0, 1]; to record none, set enabled: false", r))
	}
	if strings.TrimSpace(t.ServiceName) == "" || strings.ContainsAny(t.ServiceName, "\r\n") {
		v.add("tracing.service_name", "must be a name on one line")
	}
	names := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !isToken(k) {
			v.add(childPath("tracing.headers", k), "not a valid header name")
		}
		if strings.ContainsAny(t.Headers[k], "\r\n\x00") {
			v.add(childPath("tracing.headers", k), "a header value must not hold CR, LF or NUL")
		}
	}
	if !t.Enabled {
		return
	}
	if t.Endpoint == "" {
		v.add("tracing.endpoint", "required when tracing is enabled: the collector's OTLP/HTTP URL, such as http://otel-collector:4318/v1/traces")
		return
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		v.add("tracing.endpoint", fmt.Sprintf("%q: an http:// or https:// URL with a host and no user, query or fragment, such as http://otel-collector:4318/v1/traces", t.Endpoint))
	}
}
