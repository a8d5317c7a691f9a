package config

import (
	"fmt"
	"net"
	"strings"

	"github.com/ulule/limiter/v3"
)

// knownMethods are the methods a rule may name.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true,
}

// registeredMethods are the IANA HTTP Method Registry's methods (WebDAV,
// CalDAV, DeltaV...) and PURGE (caches); any other token is accepted with a
// warning.
var registeredMethods = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(`ACL BASELINE-CONTROL BIND CHECKIN CHECKOUT COPY LABEL LINK LOCK MERGE
		MKACTIVITY MKCALENDAR MKCOL MKREDIRECTREF MKWORKSPACE MOVE ORDERPATCH PRI PROPFIND PROPPATCH QUERY
		REBIND REPORT SEARCH UNBIND UNCHECKOUT UNLINK UNLOCK UPDATE UPDATEREDIRECTREF VERSION-CONTROL PURGE`) {
		m[s] = true
	}
	return m
}()

// validateRequests checks the requests block.
func validateRequests(v *problemList, r *Requests) {
	seen := map[string]bool{}
	for i, m := range r.RefuseMethods {
		p := indexPath("requests.refuse_methods", i)
		switch {
		case !isToken(m):
			v.add(p, fmt.Sprintf("invalid method %q: a method is a token", m))
		case m == "GET" || m == "HEAD":
			v.add(p, fmt.Sprintf("%s cannot be refused (write a deny rule instead)", m))
		case seen[m]:
			v.warn(p, fmt.Sprintf("method %q is listed twice", m))
		}
		seen[m] = true
	}
	for i, h := range r.StripHeaders {
		p := indexPath("requests.strip_headers", i)
		switch {
		case !isToken(h): // a field name is a token too
			v.add(p, fmt.Sprintf("invalid header name %q", h))
		case strings.EqualFold(h, "Host") || strings.EqualFold(h, "Content-Length") || strings.EqualFold(h, "Transfer-Encoding"):
			v.add(p, fmt.Sprintf("%s frames the request and cannot be stripped", h))
		}
	}
}

func validateRules(v *problemList, c *Config) {
	for i, r := range c.Rules {
		path := indexPath("rules", i)
		if msg := pathProblem(r.Path, true); msg != "" {
			v.add(path+".path", msg)
		}
		if r.Policy == "" {
			v.add(path+".policy", "required: public, authenticated or deny")
		} else {
			oneOf(v, path+".policy", r.Policy, "public", "authenticated", "deny")
		}
		seen := map[string]bool{}
		for j, m := range r.Methods {
			mp := indexPath(path+".methods", j)
			switch {
			case knownMethods[m]:
				if seen[m] {
					v.warn(mp, fmt.Sprintf("method %q is listed twice", m))
				}
				seen[m] = true
			case knownMethods[strings.ToUpper(m)]:
				v.add(mp, fmt.Sprintf("unknown method %q (methods are upper case: %s)", m, strings.ToUpper(m)))
			case !isToken(m):
				v.add(mp, fmt.Sprintf("invalid method %q: a method is a token (letters, digits and !#$%%&'*+-.^_`|~)", m))
			default: // any token: PROPFIND, MKCOL, PURGE...
				if seen[m] {
					v.warn(mp, fmt.Sprintf("method %q is listed twice", m))
				} else if !registeredMethods[m] {
					v.warn(mp, fmt.Sprintf("method %q is not in the IANA method registry: check the spelling (it is matched as written)", m))
				}
				seen[m] = true
			}
		}
		if r.AllowBody && r.Policy == "deny" {
			v.warn(path+".allow_body", "never used: the rule denies")
		}
		for j, h := range r.Hosts {
			if msg := hostProblem(h); msg != "" {
				v.add(indexPath(path+".hosts", j), msg)
			}
		}
		checkRoles(v, path+".roles", r.Roles)
		if len(r.Roles) > 0 && r.Policy != "authenticated" && r.Policy != "" {
			v.add(path+".roles", "roles are only allowed with policy authenticated")
		}
		switch {
		case r.MFA != "" && r.MFA != "required":
			v.add(path+".mfa", fmt.Sprintf("unknown value %q (want required, or leave it out)", r.MFA))
		case r.MFA != "" && r.Policy != "authenticated" && r.Policy != "":
			v.add(path+".mfa", "mfa is only allowed with policy authenticated")
		}
		switch {
		case r.MaxAge < 0:
			v.add(path+".max_age", "must be positive")
		case r.MaxAge > 0 && r.MFA != "required":
			v.add(path+".max_age", "max_age needs mfa: required")
		}
		if r.Upstream != "" {
			if _, ok := c.Upstreams.Named[r.Upstream]; !ok {
				v.add(path+".upstream", fmt.Sprintf("no upstream named %q in upstreams.named", r.Upstream))
			} else if r.Policy == "deny" {
				v.warn(path+".upstream", "never used: the rule denies")
			}
		}
	}
	oneOf(v, "default_policy", c.DefaultPolicy, "public", "authenticated", "deny")
	if c.DefaultPolicy == "public" {
		v.warn("default_policy", "public lets every request no rule matches through without a token")
	}
}

// pathProblem says what is wrong with a rule pattern (wildcards true) or a
// route path, "" if nothing. Patterns are matched against normalized request
// paths, so anything normalization removes or rejects could never match.
func pathProblem(p string, wildcards bool) string {
	if p == "" {
		return "required"
	}
	if p[0] != '/' {
		return fmt.Sprintf("%q must start with /", p)
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c <= ' ' || c == 0x7f:
			return fmt.Sprintf("%q must not contain spaces or control characters", p)
		case c == '?' || c == '#':
			return fmt.Sprintf("%q must not contain a query (?) or fragment (#)", p)
		case c == '\\':
			return fmt.Sprintf("%q must not contain a backslash", p)
		case c == '%':
			if msg := percentProblem(p, i); msg != "" {
				return msg
			}
		}
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case s == "" && !last:
			return fmt.Sprintf("%q must not contain empty segments (//)", p)
		case s == "." || s == "..":
			return fmt.Sprintf("%q must not contain . or .. segments", p)
		case strings.Contains(s, "*") && !wildcards:
			return fmt.Sprintf("%q must not contain wildcards", p)
		case strings.Contains(s, "*") && (!last || s != "*" && s != "**"):
			return fmt.Sprintf("%q: * and ** are only allowed as the whole last segment, like /api/* or /api/**", p)
		}
	}
	return ""
}

// percentProblem checks the escape at p[i] == '%'.
func percentProblem(p string, i int) string {
	if i+2 >= len(p) || unhex(p[i+1]) < 0 || unhex(p[i+2]) < 0 {
		return fmt.Sprintf("%q has invalid percent-encoding", p)
	}
	b := byte(unhex(p[i+1])<<4 | unhex(p[i+2]))
	switch {
	case b == '/' || b == '\\' || b == 0:
		return fmt.Sprintf("%q must not encode a slash, backslash or NUL: such requests are refused", p)
	case isUnreserved(b):
		return fmt.Sprintf("%q: write %s as %q (requests are matched decoded)", p, p[i:i+3], string(b))
	}
	return ""
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// hostProblem says what is wrong with a rule's host, "" if nothing: a host
// name or IP, with an optional port, and optionally a leading "*." label.
func hostProblem(h string) string {
	const want = "a host name like app.example.com (optionally with :port), without scheme or path"
	if h == "" {
		return "host must not be empty"
	}
	name := h
	if host, port, err := net.SplitHostPort(h); err == nil {
		if !validPort(port, false) {
			return fmt.Sprintf("invalid host %q: %s", h, want)
		}
		name = host
	}
	name = strings.TrimPrefix(name, "*.")
	if name == "" {
		return fmt.Sprintf("invalid host %q: %s", h, want)
	}
	if net.ParseIP(name) != nil {
		return ""
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("invalid host %q: %s", h, want)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("invalid host %q: %s", h, want)
			}
		}
	}
	return ""
}

func validateRateLimits(v *problemList, r *RateLimits) {
	for _, f := range []struct{ path, rate string }{
		{"rate_limits.login_per_ip", r.LoginPerIP},
		{"rate_limits.login_per_username", r.LoginPerUsername},
		{"rate_limits.refresh_per_ip", r.RefreshPerIP},
		{"rate_limits.mail_per_ip", r.MailPerIP},
		{"rate_limits.mail_per_email", r.MailPerEmail},
		{"rate_limits.second_factor_per_user", r.SecondFactorPerUser},
	} {
		if f.rate == RateOff {
			continue
		}
		rate, err := limiter.NewRateFromFormatted(f.rate)
		if err != nil || rate.Limit < 1 {
			v.add(f.path, fmt.Sprintf("invalid rate %q: use N-S, N-M, N-H or N-D with N ≥ 1 (like 5-M), or off", f.rate))
		}
	}
	if r.LockoutFailures < -1 {
		v.add("rate_limits.lockout_failures", fmt.Sprintf("must be -1 (lockout off) or a positive number of failures (got %d)", r.LockoutFailures))
	}
	if r.LockoutFailures > 0 {
		positive(v, "rate_limits.lockout_window", r.LockoutWindow)
		positive(v, "rate_limits.lockout_duration", r.LockoutDuration)
	}
}

// RateOff is the rate string that disables a rate limit.
const RateOff = "off"
