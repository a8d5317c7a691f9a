// Package returnto decides where a person may be sent after signing in: the
// "return address" carried through the sign-in page. It owns one parser and
// validator for those addresses, and the host patterns of the allow-list.
//
// An address is accepted when it is a path on the same site ("/app?x=1") or
// an absolute http(s) URL whose host is allow-listed (exact hosts and
// "*.example.com" patterns). Everything a browser could read as another
// site is refused: scheme-relative "//evil", "/\evil", "\\evil",
// "https:evil", other schemes (javascript:, data:), user info
// ("https://good@evil"), control characters, white space, backslashes,
// non-ASCII bytes, and percent-encoded forms of any of those (decoded
// repeatedly). A refused address falls back to the configured default; it
// is never repaired, because a repaired address is one the attacker chose.
package returnto

import (
	"errors"
	"net/url"
	"strings"
)

// MaxLen bounds a return address.
const MaxLen = 2048

// Policy is a compiled allow-list and default.
type Policy struct {
	hosts []Pattern
	def   string
}

// Pattern is one allowed host: exact ("app.example.com"), or a wildcard
// ("*.example.com") that matches any subdomain but not the domain itself;
// with Port set, only that port.
type Pattern struct {
	Host     string // lower case, without "*."
	Wildcard bool
	Port     string // "" any
}

// ParsePattern reads "host", "host:port", "*.host" or "*.host:port".
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	s = strings.ToLower(s)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		p.Port, s = s[i+1:], s[:i]
		if p.Port == "" || strings.Trim(p.Port, "0123456789") != "" {
			return Pattern{}, errors.New("bad port")
		}
	}
	if strings.HasPrefix(s, "*.") {
		p.Wildcard, s = true, s[2:]
	}
	if s == "" || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return Pattern{}, errors.New("bad host")
	}
	p.Host = s
	return p, nil
}

// Match reports whether hostport (a URL's host, with an optional port)
// is allowed by p.
func (p Pattern) Match(hostport string) bool {
	host, port := splitHostPort(strings.ToLower(hostport))
	if p.Port != "" && port != p.Port {
		return false
	}
	if p.Wildcard {
		return strings.HasSuffix(host, "."+p.Host) && len(host) > len(p.Host)+1
	}
	return host == p.Host
}

func splitHostPort(hp string) (string, string) {
	if i := strings.LastIndexByte(hp, ':'); i >= 0 && !strings.Contains(hp[i:], "]") {
		return hp[:i], hp[i+1:]
	}
	return hp, ""
}

// New compiles the allow-list. def is returned by Resolve for refused
// addresses; it must itself be acceptable.
func New(hosts []string, def string) (*Policy, error) {
	p := &Policy{def: "/"}
	for _, h := range hosts {
		pt, err := ParsePattern(h)
		if err != nil {
			return nil, errors.New("return host " + h + ": " + err.Error())
		}
		p.hosts = append(p.hosts, pt)
	}
	if def != "" {
		if _, ok := p.Check(def); !ok {
			return nil, errors.New("default return address " + def + " is not acceptable itself")
		}
		p.def = def
	}
	return p, nil
}

// Default is the fallback address.
func (p *Policy) Default() string { return p.def }

// Resolve is raw when acceptable, the default otherwise.
func (p *Policy) Resolve(raw string) string {
	if s, ok := p.Check(raw); ok {
		return s
	}
	return p.def
}

// AllowsHost reports whether hostport is on the allow-list.
func (p *Policy) AllowsHost(hostport string) bool {
	for _, pt := range p.hosts {
		if pt.Match(hostport) {
			return true
		}
	}
	return false
}

// Hosts are the compiled patterns (for a CSP form-action list).
func (p *Policy) Hosts() []Pattern { return p.hosts }

// Check returns raw and true when it is an acceptable return address.
func (p *Policy) Check(raw string) (string, bool) {
	if raw == "" || len(raw) > MaxLen || !plain(raw) {
		return "", false
	}
	// Percent-decoded forms must be as harmless as the raw one: some
	// applications decode a return parameter before redirecting to it.
	d := raw
	for range 4 {
		u, err := url.PathUnescape(d)
		if err != nil {
			return "", false
		}
		if u == d {
			break
		}
		d = u
		if !plainDecoded(d) || startsRemote(d) {
			return "", false
		}
	}
	if mustDecodeFurther(d) {
		return "", false // still encoded after four rounds: nobody needs that
	}
	if raw[0] == '/' {
		if startsRemote(raw) {
			return "", false
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			return "", false
		}
		return raw, true
	}
	lower := strings.ToLower(raw)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return "", false // other schemes, "https:evil", relative paths without /
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" || u.Host == "" {
		return "", false
	}
	authority := raw[len(u.Scheme)+3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.ContainsAny(authority, "@[]") || authority != u.Host {
		return "", false
	}
	if !p.AllowsHost(u.Host) {
		return "", false
	}
	return raw, true
}

// plain: printable ASCII without space, backslash, quote or angle brackets.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '\\' || c == '"' || c == '<' || c == '>' || c == '`' {
			return false
		}
	}
	return true
}

// plainDecoded: a decoded form may hold bytes a raw one may not (é), but
// never controls or backslashes.
func plainDecoded(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// startsRemote: a path a browser would read as another host.
func startsRemote(s string) bool {
	return strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") || strings.HasPrefix(s, "\\")
}

func mustDecodeFurther(s string) bool {
	u, err := url.PathUnescape(s)
	return err == nil && u != s
}
