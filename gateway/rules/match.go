package rules

import "strings"

// Match returns the decision for a request: the first rule whose pattern,
// methods and hosts all match, or the default policy (Rule -1). path must
// be a path returned by Normalize; a trailing slash on it is ignored. host
// is the request's Host (any case, with or without a port or a trailing
// dot). Match does not allocate.
func (s *Set) Match(method, host, path string) Decision {
	if path == "" || path[0] != '/' {
		return Decision{Rule: -1, Policy: s.def}
	}
	if len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	m := methodBit(method)
	host = hostOnly(host)
	best := int32(len(s.rules)) // the first matching rule so far
	s.trie.each(path, func(list []int32) bool {
		for _, i := range list {
			if i >= best {
				break
			}
			r := &s.rules[i]
			if !r.allowsMethod(m, method) || r.hosts != nil && !hostIn(host, r.hosts) {
				continue
			}
			best = i
			break
		}
		return best != 0
	})
	if int(best) < len(s.rules) {
		return s.rules[best].dec
	}
	return Decision{Rule: -1, Policy: s.def}
}

// Len returns the number of rules in the set.
func (s *Set) Len() int { return len(s.rules) }

// DefaultPolicy returns the policy of requests that match no rule.
func (s *Set) DefaultPolicy() Policy { return s.def }

// hostOnly strips the port and one trailing dot from a Host value.
func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") { // IPv6 literal
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

func hostIn(h string, hosts []string) bool {
	for _, v := range hosts {
		if strings.EqualFold(h, v) {
			return true
		}
	}
	return false
}
