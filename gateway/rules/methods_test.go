package rules

import (
	"testing"

	"authgate/config"
)

// TestAnyTokenMethod: a rule may name any RFC 9110 token method (WebDAV's
// PROPFIND, MKCOL; PURGE); it matches that method only, while a rule that
// names none matches every method.
func TestAnyTokenMethod(t *testing.T) {
	s, _, err := Compile([]config.Rule{
		{Path: "/dav/**", Methods: []string{"PROPFIND", "MKCOL"}, Policy: "public"},
		{Path: "/dav/**", Methods: []string{"GET"}, Policy: "authenticated"},
		{Path: "/any/**", Policy: "public"},
	}, "deny", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		rule         int
	}{
		{"PROPFIND", "/dav/x", 0}, {"propfind", "/dav/x", 0}, {"MKCOL", "/dav/x", 0},
		{"PURGE", "/dav/x", -1}, {"GET", "/dav/x", 1}, {"HEAD", "/dav/x", 1}, {"POST", "/dav/x", -1},
		{"PURGE", "/any/x", 2}, {"M-SEARCH", "/any/x", 2},
	} {
		if d := s.Match(tc.method, "h", tc.path); d.Rule != tc.rule {
			t.Errorf("%s %s: rule %d, want %d", tc.method, tc.path, d.Rule, tc.rule)
		}
	}
	_, probs, _ := Compile([]config.Rule{
		{Path: "/a/**", Methods: []string{"PROPFIND", "MKCOL"}, Policy: "public"},
		{Path: "/a/x", Methods: []string{"PROPFIND"}, Policy: "deny"},
		{Path: "/a/y", Methods: []string{"LOCK"}, Policy: "deny"},
	}, "deny", nil)
	if len(probs) != 1 || probs[0].Path != "rules[1]" || !probs[0].Warning {
		t.Errorf("want rules[1] unreachable only, got %v", probs)
	}
}
