package rules

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"authgate/config"
)

// ErrInvalidRules is wrapped by the error Compile returns when any rule (or
// the default policy) is invalid.
var ErrInvalidRules = errors.New("invalid rules")

// Problem is one finding about the rules, named by the YAML path of the
// field ("rules[2].methods[0]").
type Problem struct {
	// Path is the YAML path of the field, or "rules[i]" for the rule.
	Path string
	// Msg says what is wrong and, where it can, what to write instead.
	Msg string
	// Warning is true for findings that do not stop the gateway (an
	// unreachable rule); false for errors.
	Warning bool
}

// String returns "path: message", prefixed with "warning: " for a
// warning (as config.Problem does).
func (p Problem) String() string {
	if p.Warning {
		return "warning: " + p.Path + ": " + p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Set is a compiled, ordered list of rules. It is immutable and safe for
// concurrent use.
type Set struct {
	rules []rule
	def   Policy
	// trie holds the rules by the path segments of their patterns, so that
	// matching a path looks only at the rules that can match it.
	trie node
}

// rule is one compiled rule.
type rule struct {
	pat     pattern
	methods methodSet // methodAll when the rule names none
	// others are the methods outside knownMethods the rule names (its
	// methodOther bit is then set); nil with methodOther set: any method.
	others []string
	hosts  []string // lower-case, no port; nil: any host
	dec    Decision
}

// Compile checks and compiles the rules of gateway.yaml (in order: the
// first match wins), the default policy for requests no rule matches ("" is
// deny) and the names of the configured named upstreams. It returns every
// problem found, errors and warnings (unreachable rules), each naming its
// YAML path. When there is any error, the Set is nil and the error wraps
// ErrInvalidRules; warnings alone do not stop it.
func Compile(rs []config.Rule, defaultPolicy string, upstreamNames map[string]bool) (*Set, []Problem, error) {
	var probs []Problem
	bad := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(path, msg string) {
		probs = append(probs, Problem{Path: path, Msg: msg, Warning: true})
	}

	s := &Set{rules: make([]rule, len(rs))}
	if defaultPolicy != "" {
		p, ok := ParsePolicy(defaultPolicy)
		if !ok {
			bad("default_policy", "unknown policy %q (want public, authenticated or deny)", defaultPolicy)
		}
		s.def = p
	}

	for i, r := range rs {
		at := fmt.Sprintf("rules[%d]", i)
		n := len(probs)
		c := &s.rules[i]
		c.dec = Decision{Rule: i, Upstream: r.Upstream, AllowBody: r.AllowBody}

		pt, msg, w := parsePattern(r.Path)
		if msg != "" {
			bad(at+".path", "%s", msg)
		} else if w != "" {
			warn(at+".path", w)
		}
		c.pat = pt

		c.methods = methodAll
		if len(r.Methods) > 0 {
			c.methods = 0
			for j, m := range r.Methods {
				bit := methodBit(m)
				if bit == methodOther {
					if !validMethod(m) {
						bad(fmt.Sprintf("%s.methods[%d]", at, j), "invalid method %q: a method is an RFC 9110 token (like GET or PROPFIND)", m)
						continue
					}
					c.others = append(c.others, m)
				}
				c.methods |= bit
				if bit == methodGET { // upstreams answer HEAD with their GET handler
					c.methods |= methodHEAD
				}
			}
		}

		for j, h := range r.Hosts {
			host, msg := parseHost(h)
			if msg != "" {
				bad(fmt.Sprintf("%s.hosts[%d]", at, j), "%s", msg)
				continue
			}
			c.hosts = append(c.hosts, host)
		}

		switch p, ok := ParsePolicy(r.Policy); {
		case r.Policy == "":
			bad(at+".policy", "required (public, authenticated or deny)")
		case !ok:
			bad(at+".policy", "unknown policy %q (want public, authenticated or deny)", r.Policy)
		default:
			c.dec.Policy = p
			if len(r.Roles) > 0 && p != PolicyAuthenticated {
				bad(at+".roles", "roles need policy authenticated (policy is %q)", r.Policy)
			}
		}
		for j, role := range r.Roles {
			if strings.TrimSpace(role) == "" {
				bad(fmt.Sprintf("%s.roles[%d]", at, j), "empty role")
			}
		}
		if len(r.Roles) > 0 {
			c.dec.Roles = append([]string(nil), r.Roles...)
		}

		switch {
		case r.MFA == "":
		case r.MFA != "required":
			bad(at+".mfa", "unknown value %q (want required, or leave it out)", r.MFA)
		case c.dec.Policy != PolicyAuthenticated && r.Policy != "":
			bad(at+".mfa", "mfa needs policy authenticated (policy is %q)", r.Policy)
		default:
			c.dec.MFA = true
		}
		switch {
		case r.MaxAge < 0:
			bad(at+".max_age", "must be positive")
		case r.MaxAge > 0 && r.MFA != "required":
			bad(at+".max_age", "max_age needs mfa: required")
		default:
			c.dec.MaxAge = r.MaxAge
		}

		if r.Upstream != "" && !upstreamNames[r.Upstream] {
			bad(at+".upstream", "unknown upstream %q (not in upstreams.named)", r.Upstream)
		}

		if !hasError(probs[n:]) { // the trie holds only valid rules
			s.warnUnreachable(i, warn)
			s.trie.add(&c.pat, int32(i))
		}
	}

	var errs []Problem
	for _, p := range probs {
		if !p.Warning {
			errs = append(errs, p)
		}
	}
	switch len(errs) {
	case 0:
		return s, probs, nil
	case 1:
		return nil, probs, fmt.Errorf("%w: %s", ErrInvalidRules, errs[0])
	}
	return nil, probs, fmt.Errorf("%w: %s (and %d more)", ErrInvalidRules, errs[0], len(errs)-1)
}

func hasError(ps []Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

// parseHost checks a configured host name and returns it lower-case,
// without a trailing dot, IPv6 literals in brackets.
func parseHost(h string) (host, msg string) {
	host = strings.TrimSuffix(strings.ToLower(h), ".")
	switch {
	case host == "":
		return "", "empty host"
	case strings.Contains(host, "*"):
		return "", fmt.Sprintf("%q: wildcard hosts are not supported; list each host", h)
	case host[0] == '[':
		if !strings.HasSuffix(host, "]") || net.ParseIP(host[1:len(host)-1]) == nil {
			return "", fmt.Sprintf("%q: invalid host (a port is not allowed: hosts match without one)", h)
		}
		return host, ""
	case strings.Contains(host, ":"):
		if ip := net.ParseIP(host); ip != nil {
			return "[" + host + "]", ""
		}
		return "", fmt.Sprintf("%q: a port is not allowed (hosts match without one)", h)
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fmt.Sprintf("%q: invalid host name", h)
		}
	}
	return host, ""
}

// warnUnreachable warns when an earlier valid rule matches every request
// rule j matches. The earlier valid rules are those in the trie; only those
// on the trie's path to rule j's pattern can cover it, so that the check
// costs the same for the last of 10,000 rules as for the second.
func (s *Set) warnUnreachable(j int, warn func(path, msg string)) {
	q := &s.rules[j]
	first := int32(j)
	s.trie.covering(&q.pat, func(list []int32) bool {
		for _, i := range list {
			if i >= first {
				break
			}
			if s.rules[i].covers(q) {
				first = i
				break
			}
		}
		return first != 0
	})
	if int(first) < j {
		warn(fmt.Sprintf("rules[%d]", j), fmt.Sprintf(
			"unreachable: rules[%d] (%s) matches every request this rule (%s) matches",
			first, s.rules[first].describe(), q.describe()))
	}
}

// covers reports whether r matches every request q matches.
func (r *rule) covers(q *rule) bool {
	if r.methods&q.methods != q.methods {
		return false
	}
	if q.methods&methodOther != 0 && r.others != nil {
		if q.others == nil {
			return false
		}
		for _, m := range q.others {
			if !containsFold(r.others, m) {
				return false
			}
		}
	}
	if r.hosts != nil {
		if q.hosts == nil {
			return false
		}
		for _, h := range q.hosts {
			if !containsString(r.hosts, h) {
				return false
			}
		}
	}
	return r.pat.covers(&q.pat)
}

// describe summarizes r for messages: `"/api/**" any method any host`.
func (r *rule) describe() string {
	d := fmt.Sprintf("%q %s", r.pat.String(), r.methods.names(r.others))
	if r.hosts == nil {
		return d + " any host"
	}
	return d + " hosts " + strings.Join(r.hosts, ",")
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
