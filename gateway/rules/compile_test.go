package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"authgate/config"
)

// wantProblem is a problem expected from Compile: its path, whether it is a
// warning, and a part of its message.
type wantProblem struct {
	path    string
	warning bool
	msg     string
}

func TestCompileProblemsNameTheYAMLPath(t *testing.T) {
	ok := config.Rule{Path: "/ok/**", Policy: "public"}
	cases := []struct {
		name     string
		rules    []config.Rule
		def      string
		upstream map[string]bool
		want     []wantProblem
	}{
		{"valid rules give no problem", []config.Rule{
			{Path: "/healthz", Policy: "public"},
			{Path: "/api/*", Methods: []string{"GET", "post"}, Hosts: []string{"API.example.com", "::1"}, Policy: "authenticated", Roles: []string{"admin"}, Upstream: "api"},
			{Path: "/**", Policy: "deny"},
		}, "deny", map[string]bool{"api": true}, nil},
		{"unknown method named by index", []config.Rule{ok, ok, {Path: "/x", Methods: []string{"G T"}, Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[1]", true, "unreachable"}, {"rules[2].methods[0]", false, `invalid method "G T"`}}},
		{"method with spaces is invalid", []config.Rule{{Path: "/x", Methods: []string{" GET"}, Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].methods[0]", false, "invalid method"}}},
		{"mfa required with a step-up age is valid", []config.Rule{{Path: "/admin/**", Policy: "authenticated", MFA: "required", MaxAge: 10 * time.Minute}}, "", nil, nil},
		{"unknown mfa value refused", []config.Rule{{Path: "/x", Policy: "authenticated", MFA: "yes"}}, "", nil,
			[]wantProblem{{"rules[0].mfa", false, `unknown value "yes"`}}},
		{"mfa on a public rule refused", []config.Rule{{Path: "/x", Policy: "public", MFA: "required"}}, "", nil,
			[]wantProblem{{"rules[0].mfa", false, "needs policy authenticated"}}},
		{"max_age without mfa refused", []config.Rule{{Path: "/x", Policy: "authenticated", MaxAge: time.Minute}}, "", nil,
			[]wantProblem{{"rules[0].max_age", false, "needs mfa: required"}}},
		{"negative max_age refused", []config.Rule{{Path: "/x", Policy: "authenticated", MFA: "required", MaxAge: -time.Minute}}, "", nil,
			[]wantProblem{{"rules[0].max_age", false, "positive"}}},
		{"path required", []config.Rule{{Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, "required"}}},
		{"path must be absolute", []config.Rule{{Path: "api/**", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, `must start with "/"`}}},
		{"wildcard in the middle refused", []config.Rule{{Path: "/a/*/b", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, "whole last segment"}}},
		{"wildcard inside a segment refused", []config.Rule{{Path: "/a/b*", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, "whole last segment"}}},
		{"triple star refused", []config.Rule{{Path: "/a/***", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, "whole last segment"}}},
		{"dot segments in a pattern refused with the normal form", []config.Rule{{Path: "/a/../b", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, `write "/b"`}}},
		{"encoded unreserved in a pattern refused with the normal form", []config.Rule{{Path: "/%7Euser/**", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, `write "/~user/**"`}}},
		{"double slash before wildcard refused", []config.Rule{{Path: "/api//**", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, `write "/api/**"`}}},
		{"encoded slash in a pattern refused", []config.Rule{{Path: "/a%2fb", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, "encoded slash"}}},
		{"query in a pattern refused", []config.Rule{{Path: "/a?x=1", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", false, "no query"}}},
		{"trailing slash is a warning", []config.Rule{{Path: "/api/", Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].path", true, `write "/api"`}}},
		{"host with port refused", []config.Rule{{Path: "/x", Hosts: []string{"ok.example", "example.com:8080"}, Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].hosts[1]", false, "port is not allowed"}}},
		{"wildcard host refused", []config.Rule{{Path: "/x", Hosts: []string{"*.example.com"}, Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].hosts[0]", false, "wildcard hosts"}}},
		{"empty host refused", []config.Rule{{Path: "/x", Hosts: []string{""}, Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].hosts[0]", false, "empty host"}}},
		{"invalid host refused", []config.Rule{{Path: "/x", Hosts: []string{"ex ample"}, Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].hosts[0]", false, "invalid host"}}},
		{"bracketed IPv6 with port refused", []config.Rule{{Path: "/x", Hosts: []string{"[::1]:80"}, Policy: "public"}}, "", nil,
			[]wantProblem{{"rules[0].hosts[0]", false, "invalid host"}}},
		{"policy required", []config.Rule{{Path: "/x"}}, "", nil,
			[]wantProblem{{"rules[0].policy", false, "required"}}},
		{"unknown policy refused", []config.Rule{{Path: "/x", Policy: "allow"}}, "", nil,
			[]wantProblem{{"rules[0].policy", false, `unknown policy "allow"`}}},
		{"roles need authenticated", []config.Rule{{Path: "/x", Policy: "public", Roles: []string{"admin"}}}, "", nil,
			[]wantProblem{{"rules[0].roles", false, "need policy authenticated"}}},
		{"roles on deny refused", []config.Rule{{Path: "/x", Policy: "deny", Roles: []string{"admin"}}}, "", nil,
			[]wantProblem{{"rules[0].roles", false, "need policy authenticated"}}},
		{"empty role refused", []config.Rule{{Path: "/x", Policy: "authenticated", Roles: []string{"a", " "}}}, "", nil,
			[]wantProblem{{"rules[0].roles[1]", false, "empty role"}}},
		{"unknown upstream refused", []config.Rule{{Path: "/x", Policy: "public", Upstream: "billing"}}, "", map[string]bool{"api": true},
			[]wantProblem{{"rules[0].upstream", false, `unknown upstream "billing"`}}},
		{"unknown default policy refused", nil, "allow", nil,
			[]wantProblem{{"default_policy", false, `unknown policy "allow"`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, probs, err := Compile(tc.rules, tc.def, tc.upstream)
			checkProblems(t, probs, tc.want)
			hasErr := false
			for _, w := range tc.want {
				hasErr = hasErr || !w.warning
			}
			switch {
			case hasErr && (err == nil || set != nil):
				t.Errorf("Compile with errors returned set %v, err %v; want nil set and an error", set != nil, err)
			case hasErr && !errors.Is(err, ErrInvalidRules):
				t.Errorf("error %v does not wrap ErrInvalidRules", err)
			case !hasErr && (err != nil || set == nil):
				t.Errorf("Compile with only warnings returned set %v, err %v", set != nil, err)
			}
		})
	}
}

func checkProblems(t *testing.T, got []Problem, want []wantProblem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d problems %v, want %d %v", len(got), got, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if g.Path != w.path || g.Warning != w.warning || !strings.Contains(g.Msg, w.msg) {
			t.Errorf("problem %d = %+v; want path %q, warning %v, message containing %q", i, g, w.path, w.warning, w.msg)
		}
	}
}

func TestDecisionCarriesTheSecondFactorRequirement(t *testing.T) {
	s, _, err := Compile([]config.Rule{
		{Path: "/admin/**", Policy: "authenticated", MFA: "required", MaxAge: 10 * time.Minute},
		{Path: "/ops/**", Policy: "authenticated", MFA: "required"},
		{Path: "/**", Policy: "authenticated"},
	}, "deny", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		mfa    bool
		maxAge time.Duration
	}{{"/admin/users", true, 10 * time.Minute}, {"/ops", true, 0}, {"/app", false, 0}} {
		if d := s.Match("GET", "h", tc.path); d.MFA != tc.mfa || d.MaxAge != tc.maxAge {
			t.Errorf("%s: mfa %v max_age %v, want %v %v", tc.path, d.MFA, d.MaxAge, tc.mfa, tc.maxAge)
		}
	}
}

func TestUnreachableRulesAreWarned(t *testing.T) {
	r := func(path string, methods, hosts []string) config.Rule {
		return config.Rule{Path: path, Methods: methods, Hosts: hosts, Policy: "public"}
	}
	get := []string{"GET"}
	all9 := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
	cases := []struct {
		name          string
		first, second config.Rule
		shadowed      bool
	}{
		{"any-depth prefix hides an exact path below it", r("/api/**", nil, nil), r("/api/users", get, nil), true},
		{"any-depth prefix hides its own root", r("/api/**", nil, nil), r("/api", nil, nil), true},
		{"any-depth prefix hides a one-segment prefix", r("/api/**", nil, nil), r("/api/*", nil, nil), true},
		{"any-depth prefix hides a deeper any-depth prefix", r("/api/**", nil, nil), r("/api/v1/**", nil, nil), true},
		{"catch-all hides everything", r("/**", nil, nil), r("/", nil, nil), true},
		{"catch-all hides a catch-all", r("/**", nil, nil), r("/*", nil, nil), true},
		{"one-segment prefix hides an exact child", r("/api/*", nil, nil), r("/api/users", nil, nil), true},
		{"one-segment prefix hides itself", r("/api/*", nil, nil), r("/api/*", nil, nil), true},
		{"root one-segment hides a top-level exact path", r("/*", nil, nil), r("/x", nil, nil), true},
		{"duplicate exact rule hidden", r("/a", nil, nil), r("/a", nil, nil), true},
		{"GET rule hides a HEAD rule", r("/api/**", get, nil), r("/api/users", []string{"HEAD"}, nil), true},
		{"any host hides one host", r("/x", nil, nil), r("/x", nil, []string{"a.example"}), true},
		{"host list hides a sub-list", r("/x", nil, []string{"a.example", "b.example"}), r("/x", nil, []string{"B.example"}), true},

		{"narrower methods do not hide all methods", r("/api/**", get, nil), r("/api/users", nil, nil), false},
		{"GET does not hide GET and POST", r("/api/**", get, nil), r("/api/users", []string{"GET", "POST"}, nil), false},
		{"listing every known method does not hide all methods", r("/x", all9, nil), r("/x", nil, nil), false},
		{"one host does not hide any host", r("/x", nil, []string{"a.example"}), r("/x", nil, nil), false},
		{"host list does not hide a longer list", r("/x", nil, []string{"a.example"}), r("/x", nil, []string{"a.example", "b.example"}), false},
		{"one-segment prefix does not hide deeper paths", r("/api/*", nil, nil), r("/api/users/x", nil, nil), false},
		{"one-segment prefix does not hide its root", r("/api/*", nil, nil), r("/api", nil, nil), false},
		{"one-segment prefix does not hide any-depth", r("/api/*", nil, nil), r("/api/**", nil, nil), false},
		{"root one-segment does not hide a deeper one-segment", r("/*", nil, nil), r("/x/*", nil, nil), false},
		{"root one-segment does not hide root", r("/*", nil, nil), r("/", nil, nil), false},
		{"exact does not hide its one-segment prefix", r("/a", nil, nil), r("/a/*", nil, nil), false},
		{"prefix does not hide a longer name", r("/api/**", nil, nil), r("/apix", nil, nil), false},
		{"different exact paths", r("/a", nil, nil), r("/b", nil, nil), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, probs, err := Compile([]config.Rule{tc.first, tc.second}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var want []wantProblem
			if tc.shadowed {
				want = []wantProblem{{"rules[1]", true, "unreachable: rules[0]"}}
			}
			checkProblems(t, probs, want)
		})
	}
}

func TestInvalidRuleIsNotReportedAsUnreachable(t *testing.T) {
	_, probs, _ := Compile([]config.Rule{
		{Path: "/**", Policy: "public"},
		{Path: "/x", Policy: "nope"},
	}, "", nil)
	checkProblems(t, probs, []wantProblem{{"rules[1].policy", false, "unknown policy"}})
}

func TestCompileErrorSaysTheFirstProblem(t *testing.T) {
	_, _, err := Compile([]config.Rule{
		{Path: "/a", Policy: "public"},
		{Path: "/a", Policy: "public"},
		{Path: "/b", Methods: []string{"G T"}, Policy: "nope"},
	}, "", nil)
	want := `invalid rules: rules[2].methods[0]: invalid method "G T"`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "(and 1 more)") {
		t.Errorf("error %v; want it to start with %q and end with (and 1 more)", err, want)
	}
	if got := (Problem{Path: "rules[1]", Msg: "unreachable", Warning: true}).String(); got != "warning: rules[1]: unreachable" {
		t.Errorf("warning String() = %q", got)
	}
}
