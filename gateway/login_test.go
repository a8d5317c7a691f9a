package gateway

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoginAnswersTokenPairForJSONAndForm(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("alice", "alice-password-1", "user")
	for _, tc := range []struct {
		name, body, ctype string
	}{
		{"json", `{"username":"alice","password":"alice-password-1"}`, "application/json"},
		{"json with charset", `{"username":"alice","password":"alice-password-1"}`, "application/json; charset=utf-8"},
		{"form", form("username", "alice", "password", "alice-password-1"), "application/x-www-form-urlencoded"},
		{"username case and width folded", `{"username":"ＡLICE","password":"alice-password-1"}`, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/auth", tc.body, "Content-Type", tc.ctype)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			m := r.json(t)
			if m["token_type"] != "Bearer" || m["expires_in"] != float64(900) {
				t.Errorf("token_type/expires_in = %v/%v", m["token_type"], m["expires_in"])
			}
			if tok, _ := m["access_token"].(string); strings.Count(tok, ".") != 2 {
				t.Errorf("access_token %q is not a JWT", tok)
			}
			if rt, _ := m["refresh_token"].(string); len(rt) < 43 {
				t.Errorf("refresh_token %q too short for 256 bits", rt)
			}
			if _, ok := m["change_password"]; ok {
				t.Errorf("change_password present for a normal user")
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("alice", "alice-password-1")
	u := e.addUser("bob", "bob-password-1")
	u.Active = false
	if err := e.st.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	var first string
	for _, body := range []string{
		`{"username":"alice","password":"wrong-password"}`,
		`{"username":"nobody","password":"wrong-password"}`,
		`{"username":"bob","password":"bob-password-1"}`, // inactive
	} {
		r := e.do("POST", "/auth", body)
		if r.status != 401 || r.problemType(t) != "invalid-credentials" {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
		if first == "" {
			first = string(r.body)
		} else if string(r.body) != first {
			t.Errorf("bodies differ: %s vs %s", r.body, first)
		}
	}
}

func TestLoginBadInput(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, body, ctype string
		status            int
		slug, field       string
	}{
		{"missing username", `{"password":"x"}`, "application/json", 400, "validation", "username"},
		{"missing password", `{"username":"alice"}`, "application/json", 400, "validation", "password"},
		{"wrong type", `{"username":5,"password":"x"}`, "application/json", 400, "validation", "username"},
		{"malformed", `{"username":`, "application/json", 400, "bad-request", ""},
		{"not an object", `[1,2]`, "application/json", 400, "bad-request", ""},
		{"trailing garbage", `{"username":"a","password":"b"} {}`, "application/json", 400, "bad-request", ""},
		{"empty", ``, "application/json", 400, "bad-request", ""},
		{"xml", `<a/>`, "application/xml", 415, "unsupported-media-type", ""},
		{"password too long", `{"username":"a","password":"` + strings.Repeat("p", 4096) + `"}`, "application/json", 400, "password-too-long", ""},
		{"body too large", `{"username":"a","password":"` + strings.Repeat("p", 2<<20) + `"}`, "application/json", 413, "payload-too-large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/auth", tc.body, "Content-Type", tc.ctype)
			if r.status != tc.status || r.problemType(t) != tc.slug {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if tc.field != "" && r.json(t)["field"] != tc.field {
				t.Errorf("field = %v, want %s", r.json(t)["field"], tc.field)
			}
		})
	}
}

func TestMeNeedsAValidToken(t *testing.T) {
	e := newEnv(t, nil)
	u := e.addUser("alice", "alice-password-1", "user", "ops")
	access, _ := e.login("alice", "alice-password-1")
	r := e.do("GET", "/me", "", bearer(access)...)
	if r.status != 200 {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["id"] != u.ID || m["username"] != "alice" || m["email"] != "alice@example.com" || m["exp"] == nil {
		t.Errorf("me = %v", m)
	}
	if roles, _ := m["roles"].([]any); len(roles) != 2 {
		t.Errorf("roles = %v", m["roles"])
	}
	forged := access[:len(access)-4] + "AAAA"
	for name, h := range map[string][]string{
		"none":                        nil,
		"forged":                      bearer(forged),
		"garbage":                     bearer("not-a-jwt"),
		"basic":                       {"Authorization", "Basic YWxpY2U6eA=="},
		"query is not a token source": nil,
	} {
		target := "/me"
		if name == "query is not a token source" {
			target = "/me?access_token=" + access
		}
		r := e.do("GET", target, "", h...)
		if r.status != 401 {
			t.Errorf("%s: status %d", name, r.status)
		}
		if slug := r.problemType(t); slug != "unauthenticated" && slug != "invalid-token" {
			t.Errorf("%s: %s", name, slug)
		}
	}
}

// withGrace sets tokens.refresh_reuse_grace in a test config.
func withGrace(grace string) func(string) string {
	return func(y string) string {
		if strings.Contains(y, "\ntokens:\n") {
			return strings.Replace(y, "\ntokens:\n", "\ntokens:\n  refresh_reuse_grace: "+grace+"\n", 1)
		}
		return y + "tokens:\n  refresh_reuse_grace: " + grace + "\n"
	}
}

// refresh presents tok at e's refresh route and returns the new pair, or
// fails unless the answer is 200.
func (e *testEnv) refresh(tok string) (access, refresh string) {
	e.t.Helper()
	r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+tok+`"}`)
	if r.status != 200 {
		e.t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	m := r.json(e.t)
	return m["access_token"].(string), m["refresh_token"].(string)
}

// wantSessionRevoked fails unless the refresh token and every access token
// of a session are refused.
func (e *testEnv) wantSessionRevoked(refresh string, access ...string) {
	e.t.Helper()
	if r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`); r.status != 401 {
		e.t.Errorf("live refresh token of a revoked session: %d", r.status)
	}
	for _, tok := range access {
		if r := e.do("GET", "/me", "", bearer(tok)...); r.status != 401 {
			e.t.Errorf("access token of a revoked session: %d", r.status)
		}
	}
}

func TestRefreshRotatesAndReuseRevokesTheSession(t *testing.T) {
	e := newEnv(t, withGrace("0s"))
	e.addUser("alice", "alice-password-1")
	access1, refresh1 := e.login("alice", "alice-password-1")
	access2, refresh2 := e.refresh(refresh1)
	if refresh2 == refresh1 || access2 == access1 {
		t.Fatal("refresh did not rotate")
	}
	if r := e.do("GET", "/me", "", bearer(access2)...); r.status != 200 {
		t.Fatalf("new access token refused: %d", r.status)
	}
	// Without a replay window, the spent token again: 401, and the whole
	// session is revoked.
	r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh1+`"}`)
	if r.status != 401 || r.problemType(t) != "invalid-refresh-token" {
		t.Fatalf("reuse: %d %s", r.status, r.body)
	}
	e.wantSessionRevoked(refresh2, access1, access2)
}

func TestASpentRefreshTokenIsReplayedWithinTheGraceAndReuseAfterIt(t *testing.T) {
	e := newEnv(t, withGrace("1s"))
	e.addUser("alice", "alice-password-1")
	access1, refresh1 := e.login("alice", "alice-password-1")
	spentAt := time.Now()
	access2, refresh2 := e.refresh(refresh1)
	// The same token again (a retry, another tab): the same refresh token,
	// a valid access token, nothing revoked.
	for i := range 3 {
		access, refresh := e.refresh(refresh1)
		if refresh != refresh2 {
			t.Fatalf("replay %d handed out another refresh token", i)
		}
		if r := e.do("GET", "/me", "", bearer(access)...); r.status != 200 {
			t.Fatalf("replay %d: its access token is refused: %d", i, r.status)
		}
	}
	for _, tok := range []string{access1, access2} {
		if r := e.do("GET", "/me", "", bearer(tok)...); r.status != 200 {
			t.Fatalf("a replay revoked the session: %d", r.status)
		}
	}
	// The successor moves on; the first token still leads to the live one.
	access3, refresh3 := e.refresh(refresh2)
	if _, refresh := e.refresh(refresh1); refresh != refresh3 {
		t.Fatal("a replay after the successor was spent did not lead to the live token")
	}
	// Past the window, the first token is reuse: the session is revoked.
	time.Sleep(time.Until(spentAt.Add(time.Second)) + 100*time.Millisecond)
	r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh1+`"}`)
	if r.status != 401 || r.problemType(t) != "invalid-refresh-token" {
		t.Fatalf("reuse after the grace: %d %s", r.status, r.body)
	}
	e.wantSessionRevoked(refresh3, access1, access2, access3)
}

func TestRefreshBadTokens(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range []string{
		`{"refresh_token":"nope"}`,
		`{"refresh_token":"a.b"}`,
		`{"refresh_token":"` + strings.Repeat("x", 5000) + `"}`,
	} {
		r := e.do("POST", "/auth/refresh", body)
		if r.status != 401 || r.problemType(t) != "invalid-refresh-token" {
			t.Errorf("%.40s: %d %s", body, r.status, r.body)
		}
	}
	if r := e.do("POST", "/auth/refresh", form("refresh_token", "x.y"), "Content-Type", "application/x-www-form-urlencoded"); r.status != 401 {
		t.Errorf("form refresh: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/auth/refresh", `{}`); r.status != 400 || r.json(t)["field"] != "refresh_token" {
		t.Errorf("missing: %d %s", r.status, r.body)
	}
}

// TestConcurrentRefreshesOfOneTokenAllGetTheSameToken: tabs refreshing at
// once all get the same new refresh token, and none revokes the session.
func TestConcurrentRefreshesOfOneTokenAllGetTheSameToken(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("alice", "alice-password-1")
	_, refresh := e.login("alice", "alice-password-1")
	const n = 8
	type answer struct {
		status          int
		access, refresh string
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
			answers[i].status = r.status
			if r.status == 200 {
				m := r.json(t)
				answers[i].access, _ = m["access_token"].(string)
				answers[i].refresh, _ = m["refresh_token"].(string)
			}
		})
	}
	wg.Wait()
	for i, a := range answers {
		if a.status != 200 || a.refresh != answers[0].refresh {
			t.Fatalf("refresh %d of %d: %d with refresh token %.12q…, first got %.12q…; want 200 and the same token for all",
				i, n, a.status, a.refresh, answers[0].refresh)
		}
		if r := e.do("GET", "/me", "", bearer(a.access)...); r.status != 200 {
			t.Fatalf("refresh %d: access token refused: %d", i, r.status)
		}
	}
	e.refresh(answers[0].refresh)
}

func TestLogoutRevokesOnTheNextRequest(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("alice", "alice-password-1")
	a1, r1 := e.login("alice", "alice-password-1")
	a2, r2 := e.login("alice", "alice-password-1")
	if r := e.do("POST", "/logout", "", bearer(a1)...); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/me", "", bearer(a1)...); r.status != 401 {
		t.Errorf("token after logout: %d", r.status)
	}
	if r := e.do("GET", "/api/x", "", bearer(a1)...); r.status != 401 {
		t.Errorf("proxied with token after logout: %d", r.status)
	}
	if r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+r1+`"}`); r.status != 401 {
		t.Errorf("refresh after logout: %d", r.status)
	}
	if r := e.do("GET", "/me", "", bearer(a2)...); r.status != 200 {
		t.Errorf("other session ended by a plain logout: %d", r.status)
	}
	a3, _ := e.login("alice", "alice-password-1")
	if r := e.do("POST", "/logout?all=true", "", bearer(a3)...); r.status != 204 {
		t.Fatalf("logout all: %d", r.status)
	}
	for _, tok := range []string{a2, a3} {
		if r := e.do("GET", "/me", "", bearer(tok)...); r.status != 401 {
			t.Errorf("token after logout all: %d", r.status)
		}
	}
	if r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+r2+`"}`); r.status != 401 {
		t.Errorf("refresh after logout all: %d", r.status)
	}
}

func TestLoginRateLimitPerIP(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, `login_per_ip: "1000-M"`, `login_per_ip: "3-M"`, 1)
	})
	body := `{"username":"nobody","password":"whatever-pw"}`
	for i := 0; i < 3; i++ {
		if r := e.do("POST", "/auth", body); r.status != 401 {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	r := e.do("POST", "/auth", body)
	if r.status != 429 || r.problemType(t) != "rate-limited" {
		t.Fatalf("4th attempt: %d %s", r.status, r.body)
	}
	if r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("headers: %v", r.header)
	}
	// Another client (behind a trusted proxy) is not limited; a spoofed
	// X-Forwarded-For from an untrusted peer does not escape the limit.
	if r := e.do("POST", "/auth", body, "X-Forwarded-For", "192.0.2.7"); r.status != 429 {
		t.Errorf("spoofed XFF escaped the limit: %d", r.status)
	}
}

func TestLockoutAfterRepeatedFailures(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, "rate_limits:\n", "rate_limits:\n  lockout_failures: 3\n  lockout_duration: 1m\n", 1)
	})
	e.addUser("alice", "alice-password-1")
	for i := 0; i < 3; i++ {
		if r := e.do("POST", "/auth", `{"username":"alice","password":"wrong-one"}`); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := e.do("POST", "/auth", `{"username":"alice","password":"alice-password-1"}`)
	if r.status != 429 || r.problemType(t) != "account-locked" || r.header.Get("Retry-After") == "" {
		t.Fatalf("locked account: %d %s", r.status, r.body)
	}
}
