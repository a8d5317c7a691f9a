package rules

import (
	"testing"

	"authgate/config"
)

func mustCompile(t testing.TB, rs []config.Rule, def string, upstreams map[string]bool) *Set {
	t.Helper()
	s, probs, err := Compile(rs, def, upstreams)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	for _, p := range probs {
		t.Logf("warning: %s", p)
	}
	return s
}

func TestPatternKinds(t *testing.T) {
	cases := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"/a", "/a", true},
		{"/a", "/a/", true},
		{"/a", "/a/b", false},
		{"/a", "/ab", false},
		{"/a", "/", false},
		{"/", "/", true},
		{"/", "/a", false},
		{"/a/b", "/a/b", true},
		{"/a/*", "/a/b", true},
		{"/a/*", "/a/b/", true},
		{"/a/*", "/a", false},
		{"/a/*", "/a/", false},
		{"/a/*", "/a/b/c", false},
		{"/a/*", "/ab/c", false},
		{"/*", "/a", true},
		{"/*", "/a/", true},
		{"/*", "/", false},
		{"/*", "/a/b", false},
		{"/a/**", "/a", true},
		{"/a/**", "/a/", true},
		{"/a/**", "/a/b", true},
		{"/a/**", "/a/b/c/", true},
		{"/a/**", "/ab", false},
		{"/a/**", "/ab/c", false},
		{"/a/**", "/", false},
		{"/**", "/", true},
		{"/**", "/a/b/c", true},
		{"/a;b/**", "/a;b/c", true},
		{"/a;b/**", "/a/c", false},
	}
	for _, tc := range cases {
		s := mustCompile(t, []config.Rule{{Path: tc.pattern, Policy: "public"}}, "deny", nil)
		got := s.Match("GET", "h", tc.path).Rule == 0
		if got != tc.want {
			t.Errorf("pattern %q on path %q: matched %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestMatchFirstRuleWinsElseDefault(t *testing.T) {
	s := mustCompile(t, []config.Rule{
		0: {Path: "/healthz", Policy: "public"},
		1: {Path: "/api/users/*", Methods: []string{"get"}, Policy: "authenticated", Roles: []string{"admin", "support"}},
		2: {Path: "/api/**", Methods: []string{"POST", "DELETE"}, Policy: "authenticated", Roles: []string{"admin"}},
		3: {Path: "/api/**", Policy: "authenticated"},
		4: {Path: "/static/**", Hosts: []string{"CDN.example.com", "::1"}, Policy: "public"},
		5: {Path: "/admin/**", Policy: "deny"},
		6: {Path: "/", Policy: "public"},
		7: {Path: "/files/*", Policy: "public", Upstream: "files"},
	}, "deny", map[string]bool{"files": true})

	cases := []struct {
		name               string
		method, host, path string
		wantRule           int
		wantPolicy         Policy
	}{
		{"exact path", "GET", "h", "/healthz", 0, PolicyPublic},
		{"exact path with trailing slash", "GET", "h", "/healthz/", 0, PolicyPublic},
		{"below an exact path falls to default", "GET", "h", "/healthz/x", -1, PolicyDeny},
		{"one-segment rule with listed method", "GET", "h", "/api/users/42", 1, PolicyAuthenticated},
		{"GET rule also takes HEAD", "HEAD", "h", "/api/users/42", 1, PolicyAuthenticated},
		{"lower-case method matched", "get", "h", "/api/users/42", 1, PolicyAuthenticated},
		{"unlisted method skips to next rule", "PUT", "h", "/api/users/42", 3, PolicyAuthenticated},
		{"POST rule", "POST", "h", "/api/users/42", 2, PolicyAuthenticated},
		{"one segment too deep skips one-segment rule", "GET", "h", "/api/users/42/x", 3, PolicyAuthenticated},
		{"one-segment rule needs a segment", "GET", "h", "/api/users", 3, PolicyAuthenticated},
		{"any-depth rule takes its root", "DELETE", "h", "/api", 2, PolicyAuthenticated},
		{"prefix does not take a longer name", "GET", "h", "/apix", -1, PolicyDeny},
		{"unknown method takes rules without methods", "BREW", "h", "/api/x", 3, PolicyAuthenticated},
		{"host rule", "GET", "cdn.example.com", "/static/a.css", 4, PolicyPublic},
		{"host rule ignores case and port", "GET", "CDN.Example.COM:443", "/static/a.css", 4, PolicyPublic},
		{"host rule ignores a trailing dot", "GET", "cdn.example.com.:443", "/static/a.css", 4, PolicyPublic},
		{"IPv6 host with port", "GET", "[::1]:8080", "/static/a.css", 4, PolicyPublic},
		{"other host falls to default", "GET", "www.example.com", "/static/a.css", -1, PolicyDeny},
		{"no host falls to default", "GET", "", "/static/a.css", -1, PolicyDeny},
		{"deny rule", "GET", "h", "/admin/x/y", 5, PolicyDeny},
		{"deny rule root", "GET", "h", "/admin", 5, PolicyDeny},
		{"root", "GET", "h", "/", 6, PolicyPublic},
		{"top-level name not under root rule", "GET", "h", "/x", -1, PolicyDeny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := s.Match(tc.method, tc.host, tc.path)
			if d.Rule != tc.wantRule || d.Policy != tc.wantPolicy {
				t.Errorf("Match(%q, %q, %q) = rule %d %v; want rule %d %v",
					tc.method, tc.host, tc.path, d.Rule, d.Policy, tc.wantRule, tc.wantPolicy)
			}
		})
	}

	if d := s.Match("GET", "h", "/files/a"); d.Upstream != "files" {
		t.Errorf("named upstream: got %q, want files", d.Upstream)
	}
	if d := s.Match("GET", "h", "/api/users/1"); len(d.Roles) != 2 || d.Roles[0] != "admin" || d.Roles[1] != "support" {
		t.Errorf("roles: got %v", d.Roles)
	}
}

func TestDefaultPolicy(t *testing.T) {
	rs := []config.Rule{{Path: "/a", Policy: "deny"}}
	for def, want := range map[string]Policy{"": PolicyDeny, "deny": PolicyDeny, "public": PolicyPublic, "authenticated": PolicyAuthenticated} {
		s := mustCompile(t, rs, def, nil)
		if d := s.Match("GET", "h", "/b"); d.Rule != -1 || d.Policy != want || s.DefaultPolicy() != want {
			t.Errorf("default %q: got rule %d %v, want -1 %v", def, d.Rule, d.Policy, want)
		}
	}
}

func TestDecisionAllows(t *testing.T) {
	cases := []struct {
		name string
		d    Decision
		have []string
		want bool
	}{
		{"public allows anyone", Decision{Policy: PolicyPublic}, nil, true},
		{"deny allows nobody", Decision{Policy: PolicyDeny}, []string{"admin"}, false},
		{"authenticated without roles allows any user", Decision{Policy: PolicyAuthenticated}, nil, true},
		{"any one listed role grants", Decision{Policy: PolicyAuthenticated, Roles: []string{"admin", "support"}}, []string{"user", "support"}, true},
		{"missing role refused", Decision{Policy: PolicyAuthenticated, Roles: []string{"admin"}}, []string{"user"}, false},
		{"no roles refused when some needed", Decision{Policy: PolicyAuthenticated, Roles: []string{"admin"}}, nil, false},
		{"roles are case sensitive", Decision{Policy: PolicyAuthenticated, Roles: []string{"admin"}}, []string{"Admin"}, false},
	}
	for _, tc := range cases {
		if got := tc.d.Allows(tc.have); got != tc.want {
			t.Errorf("%s: Allows(%v) = %v, want %v", tc.name, tc.have, got, tc.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	s := mustCompile(t, fiftyRules(), "deny", nil)
	n := testing.AllocsPerRun(100, func() {
		s.Match("GET", "api.example.com:8443", "/svc49/items/7")
		s.Match("get", "x", "/nowhere")
	})
	if n != 0 {
		t.Errorf("Match allocates %v times per call pair", n)
	}
}

// linearMatch is the matcher before the trie: every rule in order, the
// first whose pattern, methods and hosts match decides (it also had an index
// by first segment, which only skipped rules that could not match). It is
// the oracle the trie is checked against (FuzzTrieMatchesLinear).
func (s *Set) linearMatch(method, host, path string) Decision {
	p, m, h := trimSlash(path), methodBit(method), hostOnly(host)
	for i := range s.rules {
		r := &s.rules[i]
		if r.allowsMethod(m, method) && r.pat.match(p) && (r.hosts == nil || hostIn(h, r.hosts)) {
			return r.dec
		}
	}
	return Decision{Rule: -1, Policy: s.def}
}

func TestIndexedMatchAgreesWithFirstMatchInOrder(t *testing.T) {
	mixed := []config.Rule{
		{Path: "/", Policy: "public"},
		{Path: "/api/users/*", Methods: []string{"GET"}, Policy: "public"},
		{Path: "/*", Methods: []string{"POST"}, Policy: "deny"},
		{Path: "/api/**", Hosts: []string{"a.example"}, Policy: "authenticated"},
		{Path: "/**", Methods: []string{"DELETE"}, Policy: "deny"},
		{Path: "/api", Policy: "public"},
		{Path: "/x/y/**", Policy: "authenticated"},
	}
	segs := []string{"api", "users", "42", "svc0", "svc1", "svc22", "svc49", "items", "health", "x", "y"}
	var paths []string
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		paths = append(paths, prefix, prefix+"/")
		if depth == 3 {
			return
		}
		for _, s := range segs {
			walk(prefix+"/"+s, depth+1)
		}
	}
	walk("", 0)
	paths[0] = "/" // the empty prefix is the root
	for name, rs := range map[string][]config.Rule{"fifty": fiftyRules(), "mixed": mixed} {
		s := mustCompile(t, rs, "deny", nil)
		for _, p := range paths {
			for _, m := range []string{"GET", "POST", "DELETE", "BREW"} {
				for _, h := range []string{"a.example", "api.example.com:443", ""} {
					if got, want := s.Match(m, h, p), s.linearMatch(m, h, p); got.Rule != want.Rule {
						t.Fatalf("%s: Match(%q, %q, %q) = rule %d; in-order scan says %d", name, m, h, p, got.Rule, want.Rule)
					}
				}
			}
		}
	}
}

func TestMatchOnPathNotFromNormalizeGivesDefault(t *testing.T) {
	s := mustCompile(t, []config.Rule{{Path: "/**", Policy: "public"}}, "deny", nil)
	for _, p := range []string{"", "admin", "*"} {
		if d := s.Match("GET", "h", p); d.Rule != -1 {
			t.Errorf("Match(%q) = rule %d, want default", p, d.Rule)
		}
	}
}
