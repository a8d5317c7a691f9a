package rules

import (
	"fmt"
	"strings"
)

// patternKind is the shape of a rule's path pattern.
type patternKind uint8

const (
	kindExact patternKind = iota // "/a/b": that path
	kindOne                      // "/a/*": one more non-empty segment
	kindAny                      // "/a/**": "/a" and anything below it
)

// pattern is a compiled path pattern. Matching ignores a trailing slash on
// the request path: "/a", "/a/*" and "/a/**" all treat "/a/b/" as "/a/b".
type pattern struct {
	kind patternKind
	// lit is the literal part in normalized form without a trailing
	// slash: "/a/b" for "/a/b", "/a/*" and "/a/**"; "/" for the exact
	// pattern "/"; "" for "/*" and "/**".
	lit string
	// litSlash is lit + "/", precomputed for prefix tests.
	litSlash string
}

// match reports whether p, a normalized path with any trailing slash
// removed (except for "/" itself), matches the pattern.
func (pt *pattern) match(p string) bool {
	switch pt.kind {
	case kindExact:
		return p == pt.lit
	case kindAny:
		return p == pt.lit || strings.HasPrefix(p, pt.litSlash)
	default: // kindOne
		if !strings.HasPrefix(p, pt.litSlash) {
			return false
		}
		rest := p[len(pt.litSlash):]
		return rest != "" && strings.IndexByte(rest, '/') < 0
	}
}

// covers reports whether every path that q matches, pt matches too.
func (pt *pattern) covers(q *pattern) bool {
	if q.kind == kindExact { // q matches q.lit (and q.lit + "/") only
		return pt.match(q.lit)
	}
	switch pt.kind {
	case kindAny: // q's paths all lie under q.lit, which lies under pt.lit
		return q.lit == pt.lit || strings.HasPrefix(q.lit, pt.litSlash)
	case kindOne: // "/a/**" also matches "/a", which "/a/*" does not
		return q.kind == kindOne && q.lit == pt.lit
	}
	return false // an exact pattern covers no wildcard pattern
}

// String returns the pattern as written in normalized form.
func (pt *pattern) String() string {
	switch pt.kind {
	case kindOne:
		return pt.lit + "/*"
	case kindAny:
		return pt.lit + "/**"
	}
	return pt.lit
}

// parsePattern compiles a rule's path. msg is empty on success; warn is a
// message worth a warning even on success.
func parsePattern(raw string) (pt pattern, msg, warn string) {
	if raw == "" {
		return pt, "required", ""
	}
	if raw[0] != '/' {
		return pt, fmt.Sprintf("%q must start with \"/\"", raw), ""
	}
	lit := raw
	switch {
	case strings.HasSuffix(raw, "/**"):
		pt.kind, lit = kindAny, raw[:len(raw)-3]
	case strings.HasSuffix(raw, "/*"):
		pt.kind, lit = kindOne, raw[:len(raw)-2]
	}
	if strings.Contains(lit, "*") {
		return pt, fmt.Sprintf("%q: a wildcard is only allowed as the whole last segment (\"/p/*\" one segment, \"/p/**\" any depth)", raw), ""
	}
	if strings.ContainsAny(lit, "?#") {
		return pt, fmt.Sprintf("%q: a pattern holds no query or fragment", raw), ""
	}
	if lit == "" { // "/*" or "/**"
		pt.litSlash = "/"
		return pt, "", ""
	}
	norm, _, err := Normalize([]byte(lit))
	if err != nil {
		return pt, fmt.Sprintf("%q: %v", raw, err), ""
	}
	trimmed := norm
	if len(trimmed) > 1 && trimmed[len(trimmed)-1] == '/' {
		trimmed = trimmed[:len(trimmed)-1]
	}
	if pt.kind != kindExact && trimmed == "/" {
		trimmed = ""
	}
	pt.lit, pt.litSlash = trimmed, trimmed+"/"
	switch {
	case pt.kind == kindExact && norm == lit && trimmed != lit:
		warn = fmt.Sprintf("%q: the trailing slash has no effect (patterns match with and without one); write %q", raw, pt.String())
	case pt.String() != raw:
		return pt, fmt.Sprintf("%q is not in normalized form: requests are matched after normalization, write %q", raw, pt.String()), ""
	}
	return pt, "", warn
}
