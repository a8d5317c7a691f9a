package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"authgate/config"
)

// linearUnreachable is the unreachable-rule check before the trie: for each
// rule, the first earlier rule that covers it, or -1.
func (s *Set) linearUnreachable() []int {
	out := make([]int, len(s.rules))
	for j := range s.rules {
		out[j] = -1
		for i := 0; i < j; i++ {
			if s.rules[i].covers(&s.rules[j]) {
				out[j] = i
				break
			}
		}
	}
	return out
}

// ruleGen turns fuzz bytes into rules and requests over a small alphabet,
// so that patterns and paths share segments often.
type ruleGen struct{ data []byte }

func (g *ruleGen) next() int {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return int(b)
}

var (
	genSegs    = []string{"a", "b", "api", "a;b", "%C3%A9", "x.y"}
	genMethods = []string{"GET", "HEAD", "POST", "DELETE", "OPTIONS", "PROPFIND"}
	genHosts   = []string{"a.example", "b.example", "[::1]"}
)

func (g *ruleGen) path(maxDepth int) string {
	n := g.next() % (maxDepth + 1)
	var b strings.Builder
	for range n {
		b.WriteByte('/')
		b.WriteString(genSegs[g.next()%len(genSegs)])
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

func (g *ruleGen) rule() config.Rule {
	r := config.Rule{Policy: "public"}
	lit := g.path(3)
	switch k := g.next() % 3; {
	case k == 1 && lit == "/":
		r.Path = "/*"
	case k == 1:
		r.Path = lit + "/*"
	case k == 2 && lit == "/":
		r.Path = "/**"
	case k == 2:
		r.Path = lit + "/**"
	default:
		r.Path = lit
	}
	if v := g.next(); v&1 != 0 {
		for i, m := range genMethods {
			if v&(2<<i) != 0 {
				r.Methods = append(r.Methods, m)
			}
		}
	}
	if v := g.next(); v&1 != 0 {
		for i, h := range genHosts {
			if v&(2<<i) != 0 {
				r.Hosts = append(r.Hosts, h)
			}
		}
	}
	// Policy and second-factor requirement, so that the decisions compared
	// differ in more than the rule index.
	switch v := g.next(); v % 4 {
	case 1:
		r.Policy = "authenticated"
	case 2:
		r.Policy, r.MFA = "authenticated", "required"
		r.MaxAge = time.Duration(v>>2) * time.Minute // 0: any age
	case 3:
		r.Policy = "deny"
	}
	return r
}

// FuzzTrieMatchesLinear checks that the trie decides every request as the
// linear matcher does (first match wins over methods, hosts, exact, "*" and
// "**"), and that the unreachable warnings name the same rules.
func FuzzTrieMatchesLinear(f *testing.F) {
	f.Add([]byte("\x05\x01\x00\x00\x00\x00\x02\x01\x01\x02\x03\x01\x05\x07\x01\x00\x03\x02\x00\x00\x02\x01\x03\x00\x00"), "/a/b")
	f.Add([]byte("\x0c\x03\x02\x01\x00\x02\x00\x00\x00\x01\x00\x00\xff\xff"), "//api/../a/")
	f.Add([]byte("\x08\x00\x00\x00\x00\x02\x05\x03\x00\x01\x01\x01\x01\x03"), "/")
	f.Fuzz(func(t *testing.T, data []byte, target string) {
		g := &ruleGen{data: data}
		rs := make([]config.Rule, g.next()%16)
		for i := range rs {
			rs[i] = g.rule()
		}
		s, probs, err := Compile(rs, "deny", nil)
		if err != nil {
			return // only normalized patterns are generated, but %C3%A9 may not be
		}
		want := s.linearUnreachable()
		got := make([]int, len(rs))
		for i := range got {
			got[i] = -1
		}
		for _, p := range probs {
			var j, i int
			if _, err := fmt.Sscanf(p.Path+" "+p.Msg, "rules[%d] unreachable: rules[%d]", &j, &i); err == nil {
				got[j] = i
			}
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("rules %v: rules[%d] reported unreachable because of %d, want %d", rs, j, got[j], want[j])
			}
		}

		paths := []string{g.path(5), g.path(5) + "/", g.path(2) + "//"}
		if p, _, err := Normalize([]byte(target)); err == nil {
			paths = append(paths, p)
		}
		for _, path := range paths {
			for _, m := range append(genMethods, "BREW", "get", "propfind") {
				for _, h := range append(genHosts, "A.Example.:8080", "") {
					if d, w := s.Match(m, h, path), s.linearMatch(m, h, path); d.Rule != w.Rule || d.Policy != w.Policy ||
						d.MFA != w.MFA || d.MaxAge != w.MaxAge || d.Upstream != w.Upstream || d.AllowBody != w.AllowBody {
						t.Fatalf("rules %v: Match(%q, %q, %q) = rule %d, linear matcher says %d", rs, m, h, path, d.Rule, w.Rule)
					}
				}
			}
		}
	})
}

// TestTrieManyRules checks the trie against the linear matcher on the
// benchmark's large sets, for every rule's own probe path.
func TestTrieManyRules(t *testing.T) {
	for _, shared := range []bool{true, false} {
		rs, _ := manyRules(3000, shared)
		rs = append(rs, config.Rule{Path: "/api/**", Methods: []string{"DELETE"}, Policy: "deny"}, config.Rule{Path: "/**", Hosts: []string{"h"}, Policy: "public"})
		s, probs, err := Compile(rs, "deny", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) != 0 {
			t.Fatalf("unexpected problems: %v", probs[0])
		}
		for i := range rs {
			lit := strings.TrimSuffix(strings.TrimSuffix(rs[i].Path, "/**"), "/*")
			for _, p := range []string{lit + "/", lit + "/x", lit + "/x/y", lit} {
				if p == "" {
					continue
				}
				for _, m := range []string{"GET", "DELETE"} {
					for _, h := range []string{"h", "other"} {
						if d, w := s.Match(m, h, p), s.linearMatch(m, h, p); d.Rule != w.Rule {
							t.Fatalf("Match(%q, %q, %q) = rule %d, linear matcher says %d", m, h, p, d.Rule, w.Rule)
						}
					}
				}
			}
		}
	}
}
