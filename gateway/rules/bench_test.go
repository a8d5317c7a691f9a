package rules

import (
	"fmt"
	"testing"

	"authgate/config"
)

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, target string }{
		{"clean", "/api/users/42"},
		{"clean-query", "/api/users/42?page=2&sort=name"},
		{"dotted", "/public/./a/../%2e%2e/admin//x"},
		{"escaped", "/caf%c3%a9/%7Euser/x"},
	} {
		target := []byte(bc.target)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Normalize(target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fiftyRules is a plausible large rule list: fifty services, each with one
// of five rule shapes, no rule hiding another.
func fiftyRules() []config.Rule {
	rs := make([]config.Rule, 50)
	for i := range rs {
		p := fmt.Sprintf("/svc%d", i)
		switch i % 5 {
		case 0:
			rs[i] = config.Rule{Path: p + "/**", Methods: []string{"POST", "PUT"}, Policy: "authenticated", Roles: []string{"admin"}}
		case 1:
			rs[i] = config.Rule{Path: p + "/items/*", Methods: []string{"GET"}, Policy: "public"}
		case 2:
			rs[i] = config.Rule{Path: p + "/**", Hosts: []string{"api.example.com"}, Policy: "authenticated"}
		case 3:
			rs[i] = config.Rule{Path: p + "/health", Policy: "public"}
		case 4:
			rs[i] = config.Rule{Path: p + "/**", Policy: "authenticated"}
		}
	}
	return rs
}

func BenchmarkMatch(b *testing.B) {
	s := mustCompile(b, fiftyRules(), "deny", nil)
	for _, bc := range []struct{ name, method, host, path string }{
		{"first-rule", "POST", "api.example.com", "/svc0/x"},
		{"middle-rule-host", "GET", "api.example.com:443", "/svc22/a/b"},
		{"last-rule", "GET", "api.example.com", "/svc49/items/7"},
		{"no-match-default", "GET", "api.example.com", "/nowhere/at/all"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Match(bc.method, bc.host, bc.path)
			}
		})
	}
}

// manyRules returns n rules, each a different resource, cycling through
// the three pattern kinds and a methods list. shared puts them all under
// one first segment ("/api/r7/**"), as one service with many endpoints
// does; otherwise each has its own ("/s7/**"). probe is a path only the
// last rule matches.
func manyRules(n int, shared bool) (rs []config.Rule, probe string) {
	rs = make([]config.Rule, n)
	for i := range rs {
		p := fmt.Sprintf("/s%d", i)
		if shared {
			p = fmt.Sprintf("/api/r%d", i)
		}
		switch i % 3 {
		case 0:
			rs[i] = config.Rule{Path: p + "/**", Policy: "authenticated"}
			probe = p + "/x/y"
		case 1:
			rs[i] = config.Rule{Path: p + "/*", Methods: []string{"GET", "POST"}, Policy: "public"}
			probe = p + "/x"
		case 2:
			rs[i] = config.Rule{Path: p, Policy: "deny"}
			probe = p
		}
	}
	return rs, probe
}

// BenchmarkMatchScale matches the last rule, and a path no rule matches,
// in sets of 10, 1000 and 10,000 rules: the cost should not grow with the
// count.
func BenchmarkMatchScale(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		for _, shared := range []bool{true, false} {
			rs, probe := manyRules(n, shared)
			s := mustCompileQuiet(b, rs)
			name := fmt.Sprintf("rules=%d/distinct", n)
			if shared {
				name = fmt.Sprintf("rules=%d/shared", n)
			}
			b.Run(name+"/last", func(b *testing.B) {
				if d := s.Match("GET", "h", probe); d.Rule != n-1 {
					b.Fatalf("Match(%q) = rule %d, want %d", probe, d.Rule, n-1)
				}
				b.ReportAllocs()
				for b.Loop() {
					s.Match("GET", "h", probe)
				}
			})
			b.Run(name+"/none", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s.Match("GET", "h", "/api/nowhere/at/all")
				}
			})
		}
	}
}

// BenchmarkCompileScale is the rules part of `authgate check` and of a
// start: compiling, with the unreachable-rule analysis.
func BenchmarkCompileScale(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		rs, _ := manyRules(n, true)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Compile(rs, "deny", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustCompileQuiet(b *testing.B, rs []config.Rule) *Set {
	b.Helper()
	s, _, err := Compile(rs, "deny", nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
