package gateway

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"authgate/auth"
)

// tokenFor starts a session of the user called name, authenticated as a
// says, and returns its access token: the tokens a second step, a step-up
// or a password-only sign-in of a user with a factor hand out.
func (e *testEnv) tokenFor(name string, a auth.Authn) string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.st.GetUserByUsername(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.g.sessions.Start(ctx, u, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.AccessToken
}

// Tokens of each kind a session can be in.
var (
	pwdOnly   = auth.Authn{AMR: []string{"pwd"}}
	withOTP   = auth.Authn{AMR: []string{"pwd", "otp"}}
	withKey   = auth.Authn{AMR: []string{"fed", "hwk"}}
	staleOTP  = auth.Authn{AMR: []string{"pwd", "otp"}, Time: time.Now().Add(-11 * time.Minute)}
	verifying = auth.Authn{AMR: []string{"pwd"}, Step: auth.StepVerify}
	enrolling = auth.Authn{AMR: []string{"pwd"}, Step: auth.StepEnrol}
)

// wantSecondFactor fails unless r is 401 second-factor-required naming
// step and the second-factor route.
func wantSecondFactor(t *testing.T, r resp, step string) {
	t.Helper()
	if r.status != 401 || r.problemType(t) != "second-factor-required" {
		t.Fatalf("status %d %s, want 401 second-factor-required", r.status, r.body)
	}
	m := r.json(t)
	if m["step"] != step {
		t.Errorf("step %v, want %q", m["step"], step)
	}
	if d, _ := m["detail"].(string); !strings.Contains(d, "/auth/mfa") {
		t.Errorf("detail %q does not name the second-factor route", d)
	}
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
}

// TestSecondFactorOnProxiedPaths: what the upstream receives, per token
// and rule. A refused request reaches no upstream; an allowed one carries
// the user's identity.
func TestSecondFactorOnProxiedPaths(t *testing.T) {
	e := newEnv(t, nil)
	u := e.addUser("alice", "alice-password-1", "user")
	for _, tc := range []struct {
		name string
		a    auth.Authn
		path string
		step string // "": allowed
		anon bool   // allowed without identity (public rule, token ignored)
	}{
		{"restricted (verify) on an authenticated path", verifying, "/api/x", auth.StepVerify, false},
		{"restricted (enrol) on an authenticated path", enrolling, "/api/x", auth.StepEnrol, false},
		{"restricted on an mfa path", verifying, "/secure/x", auth.StepVerify, false},
		{"restricted on a public path is anonymous", verifying, "/public/x", "", true},
		{"password only on an authenticated path", pwdOnly, "/api/x", "", false},
		{"password only on an mfa path", pwdOnly, "/secure/x", StepVerify, false},
		{"TOTP on an mfa path", withOTP, "/secure/x", "", false},
		{"provider and passkey on an mfa path", withKey, "/secure/x", "", false},
		{"fresh TOTP on a step-up path", withOTP, "/stepup/x", "", false},
		{"stale TOTP on a step-up path", staleOTP, "/stepup/x", StepUp, false},
		{"stale TOTP on an mfa path without max_age", staleOTP, "/secure/x", "", false},
		{"password only on a step-up path", pwdOnly, "/stepup/x", StepVerify, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.tokenFor("alice", tc.a)
			before := e.hits.Load()
			r := e.do("GET", tc.path+"?q=1", "", bearer(tok)...)
			if tc.step != "" {
				wantSecondFactor(t, r, tc.step)
				if n := e.hits.Load() - before; n != 0 {
					t.Fatalf("the upstream received %d requests", n)
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("status %d %s, want 200", r.status, r.body)
			}
			saw := upstreamSaw(t, r.body)
			if n := e.hits.Load() - before; n != 1 || saw.Path != tc.path {
				t.Fatalf("the upstream received %d requests, path %q", n, saw.Path)
			}
			id := saw.Headers["X-User-Id"]
			switch {
			case tc.anon && len(id) != 0:
				t.Errorf("a restricted token passed identity %q to the upstream", id)
			case !tc.anon && (len(id) != 1 || id[0] != u.ID):
				t.Errorf("X-User-Id at the upstream %q, want %q", id, u.ID)
			}
		})
	}
}

// TestRestrictedTokenOnOwnRoutes: good for GET /me and logout (and the
// second-factor routes), refused on the rest.
func TestRestrictedTokenOnOwnRoutes(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("alice", "alice-password-1", "user", "admin")
	for _, a := range []auth.Authn{verifying, enrolling} {
		for _, tc := range []struct {
			method, path, body string
			status             int // 0: second-factor-required
		}{
			{"GET", "/me", "", 200},
			{"PATCH", "/me", `{"email":"new@example.com"}`, 0},
			{"POST", "/auth/password", `{"current_password":"alice-password-1","new_password":"another-password-2"}`, 0},
			{"GET", "/auth/users", "", 0},
			{"POST", "/logout", "", 204},
		} {
			t.Run(a.Step+" "+tc.method+" "+tc.path, func(t *testing.T) {
				r := e.do(tc.method, tc.path, tc.body, bearer(e.tokenFor("alice", a))...)
				if tc.status == 0 {
					wantSecondFactor(t, r, a.Step)
					return
				}
				if r.status != tc.status {
					t.Fatalf("status %d %s, want %d", r.status, r.body, tc.status)
				}
			})
		}
	}
	// The password was not changed by the refused request.
	e.login("alice", "alice-password-1")
}

// TestSecondFactorInForwardAuth: the proxies get the same decisions; nginx's
// auth_request passes a 401 on, so it gets this one as it is.
func TestSecondFactorInForwardAuth(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["0.0.0.0/32"]`, 1)
	})
	u := e.addUser("alice", "alice-password-1", "user")
	nginx := func(path string) []string { return []string{"X-Original-Method", "GET", "X-Original-URI", path} }
	traefik := func(path string) []string {
		return []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", path, "X-Forwarded-Host", "app.example"}
	}
	for _, tc := range []struct {
		name    string
		a       auth.Authn
		headers []string
		step    string // "": allowed
	}{
		{"nginx restricted", verifying, nginx("/api/x"), auth.StepVerify},
		{"traefik restricted", enrolling, traefik("/api/x"), auth.StepEnrol},
		{"nginx mfa rule, password only", pwdOnly, nginx("/secure/x"), StepVerify},
		{"traefik mfa rule, password only", pwdOnly, traefik("/secure/x"), StepVerify},
		{"nginx mfa rule, TOTP", withOTP, nginx("/secure/x"), ""},
		{"traefik step-up, stale", staleOTP, traefik("/stepup/x"), StepUp},
		{"nginx step-up, fresh", withOTP, nginx("/stepup/x"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/auth/verify", "", append(bearer(e.tokenFor("alice", tc.a)), tc.headers...)...)
			if tc.step != "" {
				wantSecondFactor(t, r, tc.step)
				if r.header.Get("X-User-Id") != "" {
					t.Errorf("refusal carries X-User-Id %q", r.header.Get("X-User-Id"))
				}
				return
			}
			if r.status != 200 || r.header.Get("X-User-Id") != u.ID {
				t.Fatalf("status %d X-User-Id %q, want 200 %q: %s", r.status, r.header.Get("X-User-Id"), u.ID, r.body)
			}
		})
	}
}

// TestSecondFactorBrowserNavigation: a navigation that needs a second
// factor is sent to the second-factor page, returning to where it was
// going; an API call gets the problem.
func TestSecondFactorBrowserNavigation(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["0.0.0.0/0"]`, 1) + browserOn
	})
	e.addUser("alice", "alice-password-1", "user")
	nav := []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}
	mfaPage := func(ret string) string { return "/auth/ui/mfa?return_to=" + url.QueryEscape(ret) }
	for _, tc := range []struct {
		name    string
		a       auth.Authn
		target  string
		headers []string
		status  int
		to      string
	}{
		{"restricted, proxied path", verifying, "/api/x?a=1", nav, 302, mfaPage("/api/x?a=1")},
		{"password only, mfa path", pwdOnly, "/secure/x", nav, 302, mfaPage("/secure/x")},
		{"stale, step-up path", staleOTP, "/stepup/x", nav, 302, mfaPage("/stepup/x")},
		{"TOTP, step-up path", withOTP, "/stepup/x", nav, 200, ""},
		{"password only, mfa path, an API call", pwdOnly, "/secure/x", []string{"Accept", "application/json"}, 401, ""},
		{"password only, mfa path, a POST", pwdOnly, "/secure/x", nil, 401, ""},
		{"Traefik forward-auth", pwdOnly, "/auth/verify", append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/secure/x", "X-Forwarded-Host", "app.example.com"}, nav...), 302, mfaPage("/secure/x")},
		{"nginx forward-auth", pwdOnly, "/auth/verify", append([]string{"X-Original-Method", "GET", "X-Original-URI", "/secure/x"}, nav...), 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.name == "password only, mfa path, a POST" {
				method = "POST"
			}
			// The access cookie, as a browser holds it.
			h := append([]string{"Cookie", "__Host-authgate_access=" + e.tokenFor("alice", tc.a)}, tc.headers...)
			r := e.do(method, tc.target, "", h...)
			if r.status != tc.status || r.header.Get("Location") != tc.to {
				t.Fatalf("status %d Location %q, want %d %q: %s", r.status, r.header.Get("Location"), tc.status, tc.to, r.body)
			}
		})
	}
}

// TestSecondFactorCheckCostsNoAllocation: deciding an mfa rule with
// max_age from a cached token allocates no more than an authenticated rule
// without one (the fast path's budget).
func TestSecondFactorCheckCostsNoAllocation(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("alice", "alice-password-1", "user")
	var hdr fasthttp.RequestHeader
	hdr.Set("Authorization", "Bearer "+e.tokenFor("alice", withOTP))
	rq := &request{hdr: &hdr}
	allocs := func(path string) float64 {
		d := e.g.rules.Match("GET", "app.test", path)
		if _, _, err := e.g.judge(rq, d); err != nil { // also fills the token cache
			t.Fatalf("%s: %v", path, err)
		}
		return testing.AllocsPerRun(200, func() { _, _, _ = e.g.judge(rq, d) })
	}
	plain, stepUp := allocs("/api/x"), allocs("/stepup/x")
	t.Logf("allocations per decision: plain %v, step-up %v", plain, stepUp)
	if stepUp > plain {
		t.Fatalf("judge allocates %v times on a step-up rule, %v on a plain one", stepUp, plain)
	}
}
