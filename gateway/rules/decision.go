package rules

import (
	"strconv"
	"strings"
	"time"
)

// Policy is what a rule does with a request it matches. The zero value is
// PolicyDeny.
type Policy uint8

// The policies of a rule.
const (
	// PolicyDeny refuses the request (403) whoever sends it.
	PolicyDeny Policy = iota
	// PolicyPublic lets the request through without a token.
	PolicyPublic
	// PolicyAuthenticated needs a valid access token, and one of the rule's
	// roles when it names any.
	PolicyAuthenticated
)

// String returns the policy's name as written in gateway.yaml.
func (p Policy) String() string {
	switch p {
	case PolicyPublic:
		return "public"
	case PolicyAuthenticated:
		return "authenticated"
	case PolicyDeny:
		return "deny"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// ParsePolicy reads a policy name ("public", "authenticated", "deny"; any
// case). ok is false for any other string.
func ParsePolicy(s string) (p Policy, ok bool) {
	switch strings.ToLower(s) {
	case "public":
		return PolicyPublic, true
	case "authenticated":
		return PolicyAuthenticated, true
	case "deny":
		return PolicyDeny, true
	}
	return PolicyDeny, false
}

// Decision is what the rules say about one request.
type Decision struct {
	// Rule is the index in the configured rules of the rule that matched,
	// or -1 when none did and the default policy applies.
	Rule int
	// Policy of the matched rule, or the default policy.
	Policy Policy
	// Roles of the matched rule, any one of which grants access; empty
	// means any authenticated user. Shared with the Set: do not modify.
	Roles []string
	// Upstream is the name of the rule's named upstream, "" for the
	// default upstream.
	Upstream string
	// AllowBody lets a GET, HEAD, OPTIONS, DELETE or TRACE request carry
	// a body (the rule's allow_body); refused with 400 otherwise.
	AllowBody bool
	// MFA (the rule's mfa: required) lets only a token that proves a second
	// factor through; PolicyAuthenticated only.
	MFA bool
	// MaxAge (the rule's max_age), with MFA: the second factor must be at
	// most this old (auth_time). 0: any age.
	MaxAge time.Duration
}

// Allows reports whether a caller holding roles may pass: always for
// PolicyPublic, never for PolicyDeny, and for PolicyAuthenticated when the
// decision names no roles or the caller holds any one of them. The caller
// checks authentication itself (401 without a valid token) before asking.
func (d Decision) Allows(roles []string) bool {
	switch d.Policy {
	case PolicyPublic:
		return true
	case PolicyAuthenticated:
		if len(d.Roles) == 0 {
			return true
		}
		for _, want := range d.Roles {
			for _, have := range roles {
				if have == want {
					return true
				}
			}
		}
	}
	return false
}
