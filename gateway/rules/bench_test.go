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
