package gateway

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRegisterCreatesAnUnverifiedUserWithDefaultRolesAndMailsALink(t *testing.T) {
	e, rec := newAccountEnv(t, "users:\n  registration: true\n  default_roles: [user, reader]\n")
	r := e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "Carol@Example.com", "password", "carol-password-1"))
	mustStatus(t, "register", r, 201, "")
	m := r.json(t)
	if id, _ := m["id"].(string); id == "" || m["username"] != "carol" || m["email"] != "Carol@Example.com" {
		t.Errorf("user = %v", m)
	}
	if roles, _ := m["roles"].([]any); len(roles) != 2 || roles[0] != "user" || roles[1] != "reader" {
		t.Errorf("roles = %v, want the default roles", m["roles"])
	}
	if m["active"] != true || m["email_verified"] != false || m["must_change_password"] != false || m["created_at"] == nil {
		t.Errorf("flags = %v", m)
	}
	for _, k := range []string{"password", "password_hash"} {
		if _, ok := m[k]; ok || strings.Contains(string(r.body), "argon2") {
			t.Errorf("response shows %s: %s", k, r.body)
		}
	}
	msgs := rec.to("Carol@Example.com")
	if len(msgs) != 1 || msgs[0].Subject == "" {
		t.Fatalf("verification mails = %+v", msgs)
	}
	tok := linkToken(t, msgs[0].Text, e.cfg.Mail.VerifyURL)
	if !strings.HasPrefix(tok, m["id"].(string)+".") {
		t.Errorf("token %q does not name the user", tok)
	}
	// Without require_verified_email the new user can log in at once.
	e.login("carol", "carol-password-1")
}

func TestRegistrationIsOffByDefault(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	r := e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1"))
	mustStatus(t, "register", r, 403, "registration-disabled")
	if _, err := e.st.GetUserByUsername(t.Context(), "carol"); err == nil {
		t.Error("a user was created")
	}
	if rec.count() != 0 {
		t.Error("a mail was sent")
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	e, rec := newAccountEnv(t, registrationOn)
	e.addUser("alice", "alice-password-1")
	for _, tc := range []struct {
		name, username, email, password string
		status                          int
		slug, field                     string
	}{
		{"missing username", "", "a1@example.com", "long-enough-1", 400, "validation", "username"},
		{"username with a space", "a b", "a2@example.com", "long-enough-1", 400, "validation", "username"},
		{"username with a control character", "a\x07b", "a3@example.com", "long-enough-1", 400, "validation", "username"},
		{"username with an invisible joiner", "a\u200db", "a4@example.com", "long-enough-1", 400, "validation", "username"},
		{"username of 65 characters", strings.Repeat("é", 65), "a5@example.com", "long-enough-1", 400, "validation", "username"},
		{"username of 64 characters", strings.Repeat("é", 64), "a6@example.com", "long-enough-1", 201, "", ""},
		{"missing email", "erin", "", "long-enough-1", 400, "validation", "email"},
		{"email with display name", "erin", "Erin <erin@example.com>", "long-enough-1", 400, "validation", "email"},
		{"email in angle brackets", "erin", "<erin@example.com>", "long-enough-1", 400, "validation", "email"},
		{"not an email", "erin", "erin.example.com", "long-enough-1", 400, "validation", "email"},
		{"missing password", "erin", "erin@example.com", "", 400, "validation", "password"},
		{"password too short", "erin", "erin@example.com", "short-1", 400, "weak-password", "password"},
		{"password too long", "erin", "erin@example.com", strings.Repeat("p", 129), 400, "weak-password", "password"},
		{"password is the username in other case", "frankfurt", "frank@example.com", "FRANKFURT", 400, "weak-password", "password"},
		{"password is the email", "frank", "frank@example.com", "Frank@Example.com", 400, "weak-password", "password"},
		{"username taken, folded", "ＡLICE", "other@example.com", "long-enough-1", 400, "username-taken", "username"},
		{"email taken, folded", "alicia", "ALICE@example.com", "long-enough-1", 400, "email-taken", "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/auth/register", jsonBody("username", tc.username, "email", tc.email, "password", tc.password))
			mustStatus(t, tc.name, r, tc.status, tc.slug)
			if tc.field != "" && r.json(t)["field"] != tc.field {
				t.Errorf("field = %v, want %s", r.json(t)["field"], tc.field)
			}
			if tc.status != 201 && len(rec.to(tc.email)) != 0 {
				t.Errorf("refused registration sent a mail")
			}
		})
	}
	r := e.do("POST", "/auth/register", `{"username":5}`)
	mustStatus(t, "wrong type", r, 400, "validation")
}

func TestRequireVerifiedEmailRefusesLoginUntilTheMailedLinkIsUsed(t *testing.T) {
	e, rec := newAccountEnv(t, "users:\n  registration: true\n  require_verified_email: true\n")
	mustStatus(t, "register", e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1")), 201, "")
	login := jsonBody("username", "carol", "password", "carol-password-1")
	mustStatus(t, "login before verification", e.do("POST", "/auth", login), 403, "email-not-verified")

	tok := rec.lastToken(t, "carol@example.com", e.cfg.Mail.VerifyURL)
	r := e.do("POST", "/auth/verify-email", jsonBody("token", tok))
	mustStatus(t, "verify", r, 200, "")
	if r.json(t)["status"] != "email verified" {
		t.Errorf("body %s", r.body)
	}
	mustStatus(t, "login after verification", e.do("POST", "/auth", login), 200, "")
	mustStatus(t, "second use", e.do("POST", "/auth/verify-email", jsonBody("token", tok)), 400, "invalid-one-time-token")
}

func TestVerifyEmailLinkWorksAsAPlainGET(t *testing.T) {
	e, rec := newAccountEnv(t, registrationOn)
	mustStatus(t, "register", e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1")), 201, "")
	tok := rec.lastToken(t, "carol@example.com", e.cfg.Mail.VerifyURL)
	mustStatus(t, "GET link", e.do("GET", e.cfg.Routes.VerifyEmail+"?token="+tok, ""), 200, "")
	u, err := e.st.GetUserByUsername(t.Context(), "carol")
	if err != nil || !u.EmailVerified {
		t.Fatalf("user %+v, %v: not verified", u, err)
	}
	mustStatus(t, "GET link again", e.do("GET", e.cfg.Routes.VerifyEmail+"?token="+tok, ""), 400, "invalid-one-time-token")
	mustStatus(t, "GET without token", e.do("GET", e.cfg.Routes.VerifyEmail, ""), 400, "validation")
}

func TestOneTimeTokensAreSingleUseSupersededAndBoundToTheirPurpose(t *testing.T) {
	e, rec := newAccountEnv(t, registrationOn)
	mustStatus(t, "register", e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1")), 201, "")
	first := rec.lastToken(t, "carol@example.com", e.cfg.Mail.VerifyURL)
	mustStatus(t, "request again", e.do("POST", "/auth/verify-email/request", jsonBody("email", "carol@example.com")), 202, "")
	second := rec.lastToken(t, "carol@example.com", e.cfg.Mail.VerifyURL)
	if first == second {
		t.Fatal("the second request mailed the same token")
	}
	mustStatus(t, "reset route with a reset request's token", e.do("POST", "/auth/forgot-password", jsonBody("email", "carol@example.com")), 202, "")
	resetTok := rec.lastToken(t, "carol@example.com", e.cfg.Mail.ResetURL)

	uid, _, _ := strings.Cut(second, ".")
	for _, tc := range []struct {
		name, token string
		slug        string
	}{
		{"superseded", first, "invalid-one-time-token"},
		{"reset token on the verify route", resetTok, "invalid-one-time-token"},
		{"right user, wrong secret", uid + "." + strings.Repeat("A", 43), "invalid-one-time-token"},
		{"garbage", "not-a-token", "invalid-one-time-token"},
		{"huge", strings.Repeat("x", 5000), "invalid-one-time-token"},
		{"empty", "", "validation"},
	} {
		mustStatus(t, tc.name, e.do("POST", "/auth/verify-email", jsonBody("token", tc.token)), 400, tc.slug)
	}
	mustStatus(t, "the live token", e.do("POST", "/auth/verify-email", jsonBody("token", second)), 200, "")
	mustStatus(t, "the live token again", e.do("POST", "/auth/verify-email", jsonBody("token", second)), 400, "invalid-one-time-token")
	// The reset token was not spent by its misuse on the verify route.
	mustStatus(t, "reset token on its own route", e.do("POST", "/auth/reset-password", jsonBody("token", resetTok, "password", "carol-password-2")), 200, "")
}

func TestOneTimeTokensExpire(t *testing.T) {
	e, rec := newAccountEnv(t, registrationOn+"one_time_tokens: {verify_ttl: 1ms, reset_ttl: 1ms}\n")
	mustStatus(t, "register", e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1")), 201, "")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "carol@example.com")), 202, "")
	verifyTok := rec.lastToken(t, "carol@example.com", e.cfg.Mail.VerifyURL)
	resetTok := rec.lastToken(t, "carol@example.com", e.cfg.Mail.ResetURL)
	time.Sleep(20 * time.Millisecond) // well past both lifetimes
	mustStatus(t, "expired verify token", e.do("POST", "/auth/verify-email", jsonBody("token", verifyTok)), 400, "invalid-one-time-token")
	mustStatus(t, "expired reset token", e.do("POST", "/auth/reset-password", jsonBody("token", resetTok, "password", "carol-password-2")), 400, "invalid-one-time-token")
	e.login("carol", "carol-password-1")
}

// Known, verified, inactive and unknown addresses get byte-identical
// answers from both mail-sending routes; only the right accounts get mail.
func TestMailRequestsDoNotRevealWhichAddressesHaveAccounts(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	unverified := e.addUser("una", "una-password-1")
	unverified.EmailVerified = false
	inactive := e.addUser("ina", "ina-password-1")
	inactive.Active, inactive.EmailVerified = false, false
	if err := e.st.UpdateUser(t.Context(), unverified); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateUser(t.Context(), inactive); err != nil {
		t.Fatal(err)
	}
	e.addUser("vera", "vera-password-1") // verified
	for _, tc := range []struct {
		route string
		// mailed lists the addresses that must get a mail.
		mailed map[string]bool
	}{
		{"/auth/verify-email/request", map[string]bool{"una@example.com": true}},
		{"/auth/forgot-password", map[string]bool{"una@example.com": true, "vera@example.com": true}},
	} {
		t.Run(tc.route, func(t *testing.T) {
			var first *resp
			for _, addr := range []string{"una@example.com", "vera@example.com", "ina@example.com", "nobody@example.com"} {
				before := len(rec.to(addr))
				r := e.do("POST", tc.route, jsonBody("email", addr))
				mustStatus(t, addr, r, 202, "")
				if first == nil {
					first = &r
				} else {
					if string(r.body) != string(first.body) {
						t.Errorf("%s: body %s differs from %s", addr, r.body, first.body)
					}
					for _, h := range []string{"Content-Type", "RateLimit-Limit", "RateLimit-Remaining", "Cache-Control"} {
						if r.header.Get(h) != first.header.Get(h) {
							t.Errorf("%s: header %s %q differs from %q", addr, h, r.header.Get(h), first.header.Get(h))
						}
					}
				}
				if got := len(rec.to(addr)) - before; (got == 1) != tc.mailed[addr] || got > 1 {
					t.Errorf("%s: %d mails, want mailed=%v", addr, got, tc.mailed[addr])
				}
			}
		})
	}
	for _, body := range []string{`{}`, `{"email":"Bob <bob@example.com>"}`} {
		mustStatus(t, body, e.do("POST", "/auth/forgot-password", body), 400, "validation")
	}
}

func TestMailFailuresDoNotChangeTheAnswer(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	e.addUser("alice", "alice-password-1")
	rec.failWith(errors.New("smtp server down"))
	known := e.do("POST", "/auth/forgot-password", jsonBody("email", "alice@example.com"))
	unknown := e.do("POST", "/auth/forgot-password", jsonBody("email", "nobody@example.com"))
	mustStatus(t, "known", known, 202, "")
	mustStatus(t, "unknown", unknown, 202, "")
	if string(known.body) != string(unknown.body) {
		t.Errorf("bodies differ: %s vs %s", known.body, unknown.body)
	}
	if len(rec.to("alice@example.com")) != 1 {
		t.Error("the mail was not attempted")
	}
}

func TestMailRateLimitsCountUnknownAddressesLikeKnownOnes(t *testing.T) {
	e, _ := newAccountEnv(t, "", replace(`mail_per_email: "1000-M"`, `mail_per_email: "2-H"`))
	e.addUser("alice", "alice-password-1")
	var limited []resp
	for _, addr := range []string{"alice@example.com", "nobody@example.com"} {
		for i := 0; i < 2; i++ {
			mustStatus(t, addr, e.do("POST", "/auth/forgot-password", jsonBody("email", addr)), 202, "")
		}
		// Folded like accounts: another spelling of the address is the same key.
		r := e.do("POST", "/auth/verify-email/request", jsonBody("email", strings.ToUpper(addr)))
		mustStatus(t, addr+" third", r, 429, "rate-limited")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", addr)
		}
		limited = append(limited, r)
	}
	if string(limited[0].body) != string(limited[1].body) {
		t.Errorf("429 bodies differ: %s vs %s", limited[0].body, limited[1].body)
	}
}

func TestMailRateLimitPerClient(t *testing.T) {
	e, rec := newAccountEnv(t, registrationOn, replace(`mail_per_ip: "1000-M"`, `mail_per_ip: "2-H"`))
	for _, addr := range []string{"a@example.com", "b@example.com"} {
		mustStatus(t, addr, e.do("POST", "/auth/forgot-password", jsonBody("email", addr)), 202, "")
	}
	r := e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1"))
	mustStatus(t, "register over the limit", r, 429, "rate-limited")
	if _, err := e.st.GetUserByUsername(t.Context(), "carol"); err == nil || rec.count() != 0 {
		t.Error("a limited registration created a user or sent a mail")
	}
}

func TestResetPasswordEndsEverySessionAndClearsMustChange(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	u := e.addUser("alice", "alice-password-1")
	u.MustChangePassword = true
	if err := e.st.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	a1, r1 := e.login("alice", "alice-password-1")
	a2, r2 := e.login("alice", "alice-password-1")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "alice@example.com")), 202, "")
	tok := rec.lastToken(t, "alice@example.com", e.cfg.Mail.ResetURL)
	r := e.do("POST", "/auth/reset-password", jsonBody("token", tok, "password", "alice-password-2"))
	mustStatus(t, "reset", r, 200, "")
	if r.json(t)["status"] != "password reset" {
		t.Errorf("body %s", r.body)
	}
	for i, a := range []string{a1, a2} {
		mustStatus(t, "old access token on /me", e.do("GET", "/me", "", bearer(a)...), 401, "invalid-token")
		mustStatus(t, "old access token proxied", e.do("GET", "/api/x", "", bearer(a)...), 401, "")
		mustStatus(t, "old refresh token", e.do("POST", "/auth/refresh", jsonBody("refresh_token", []string{r1, r2}[i])), 401, "invalid-refresh-token")
	}
	mustStatus(t, "old password", e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1")), 401, "invalid-credentials")
	lr := e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-2"))
	mustStatus(t, "new password", lr, 200, "")
	if _, ok := lr.json(t)["change_password"]; ok {
		t.Error("must_change_password survived the reset")
	}
	mustStatus(t, "token reused", e.do("POST", "/auth/reset-password", jsonBody("token", tok, "password", "alice-password-3")), 400, "invalid-one-time-token")
}

func TestResetPasswordPolicyFailureLeavesTheLinkUsable(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	e.addUser("alicealice", "alice-password-1")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "alicealice@example.com")), 202, "")
	tok := rec.lastToken(t, "alicealice@example.com", e.cfg.Mail.ResetURL)
	for _, tc := range []struct{ name, password, slug string }{
		{"too short", "short", "weak-password"},
		{"the username", "AliceAlice", "weak-password"},
		{"missing", "", "validation"},
	} {
		r := e.do("POST", "/auth/reset-password", jsonBody("token", tok, "password", tc.password))
		mustStatus(t, tc.name, r, 400, tc.slug)
		if r.json(t)["field"] != "password" {
			t.Errorf("%s: field %v", tc.name, r.json(t)["field"])
		}
	}
	mustStatus(t, "good password", e.do("POST", "/auth/reset-password", jsonBody("token", tok, "password", "alice-password-2")), 200, "")
	e.login("alicealice", "alice-password-2")
}

func TestResetLinkServesAFormThatResets(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	e.addUser("alice", "alice-password-1")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "alice@example.com")), 202, "")
	tok := rec.lastToken(t, "alice@example.com", e.cfg.Mail.ResetURL)
	r := e.do("GET", e.cfg.Routes.ResetPassword+"?token="+tok, "")
	mustStatus(t, "form", r, 200, "")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(string(r.body), `value="`+tok+`"`) || !strings.Contains(string(r.body), `action="/auth/reset-password"`) {
		t.Errorf("form lacks the token or action:\n%s", r.body)
	}
	if r.header.Get("Content-Security-Policy") == "" || r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", r.header)
	}
	mustStatus(t, "form without token", e.do("GET", e.cfg.Routes.ResetPassword, ""), 400, "validation")
	mustStatus(t, "form with a script for a token", e.do("GET", e.cfg.Routes.ResetPassword+"?token=%3Cscript%3E", ""), 400, "invalid-one-time-token")

	post := e.do("POST", e.cfg.Routes.ResetPassword, form("token", tok, "password", "alice-password-2"), "Content-Type", "application/x-www-form-urlencoded")
	mustStatus(t, "form post", post, 200, "")
	e.login("alice", "alice-password-2")
}

func TestChangePasswordEndsTheOtherSessionsButNotThisOne(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	e.addUser("alice", "alice-password-1")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "alice@example.com")), 202, "")
	resetTok := rec.lastToken(t, "alice@example.com", e.cfg.Mail.ResetURL)
	cur, curRefresh := e.login("alice", "alice-password-1")
	other, otherRefresh := e.login("alice", "alice-password-1")

	for _, tc := range []struct {
		name, body string
		headers    []string
		status     int
		slug       string
	}{
		{"no token", jsonBody("current_password", "alice-password-1", "new_password", "alice-password-2"), nil, 401, "unauthenticated"},
		{"wrong current password", jsonBody("current_password", "wrong-password", "new_password", "alice-password-2"), bearer(cur), 401, "invalid-credentials"},
		{"missing current password", jsonBody("new_password", "alice-password-2"), bearer(cur), 400, "validation"},
		{"new too short", jsonBody("current_password", "alice-password-1", "new_password", "short"), bearer(cur), 400, "weak-password"},
		{"new is the username", jsonBody("current_password", "alice-password-1", "new_password", "ALICE"), bearer(cur), 400, "weak-password"},
		{"new is the current", jsonBody("current_password", "alice-password-1", "new_password", "alice-password-1"), bearer(cur), 400, "weak-password"},
	} {
		r := e.do("POST", "/auth/password", tc.body, tc.headers...)
		mustStatus(t, tc.name, r, tc.status, tc.slug)
	}
	mustStatus(t, "sessions untouched by refused changes", e.do("GET", "/me", "", bearer(other)...), 200, "")

	r := e.do("POST", "/auth/password", jsonBody("current_password", "alice-password-1", "new_password", "alice-password-2"), bearer(cur)...)
	mustStatus(t, "change", r, 204, "")
	mustStatus(t, "this session", e.do("GET", "/me", "", bearer(cur)...), 200, "")
	mustStatus(t, "other session", e.do("GET", "/me", "", bearer(other)...), 401, "invalid-token")
	mustStatus(t, "other refresh", e.do("POST", "/auth/refresh", jsonBody("refresh_token", otherRefresh)), 401, "invalid-refresh-token")
	mustStatus(t, "this refresh", e.do("POST", "/auth/refresh", jsonBody("refresh_token", curRefresh)), 200, "")
	mustStatus(t, "old password", e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1")), 401, "")
	e.login("alice", "alice-password-2")
	mustStatus(t, "reset link mailed before the change", e.do("POST", "/auth/reset-password", jsonBody("token", resetTok, "password", "alice-password-3")), 400, "invalid-one-time-token")
}

func TestPatchMeChangesNameAndEmail(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	e.addUser("alice", "alice-password-1")
	e.addUser("bob", "bob-password-1")
	access, _ := e.login("alice", "alice-password-1")
	for _, tc := range []struct {
		name, body, slug, field string
	}{
		{"nothing", `{}`, "validation", ""},
		{"same username", jsonBody("username", "alice"), "validation", "username"},
		{"same email", jsonBody("email", "alice@example.com"), "validation", "email"},
		{"taken username", jsonBody("username", "BOB"), "username-taken", "username"},
		{"taken email", jsonBody("email", "Bob@Example.com"), "email-taken", "email"},
		{"bad username", jsonBody("username", "a b"), "validation", "username"},
		{"bad email", jsonBody("email", "nope"), "validation", "email"},
	} {
		r := e.do("PATCH", "/me", tc.body, bearer(access)...)
		mustStatus(t, tc.name, r, 400, tc.slug)
		if tc.field != "" && r.json(t)["field"] != tc.field {
			t.Errorf("%s: field %v", tc.name, r.json(t)["field"])
		}
	}
	mustStatus(t, "no token", e.do("PATCH", "/me", jsonBody("username", "alicia")), 401, "unauthenticated")
	if rec.count() != 0 {
		t.Fatal("refused changes sent mail")
	}

	r := e.do("PATCH", "/me", jsonBody("username", "alicia"), bearer(access)...)
	mustStatus(t, "rename", r, 200, "")
	if m := r.json(t); m["username"] != "alicia" || m["email_verified"] != true {
		t.Errorf("after rename: %v", m)
	}
	e.login("alicia", "alice-password-1")

	r = e.do("PATCH", "/me", jsonBody("email", "ALICE@example.com"), bearer(access)...)
	mustStatus(t, "email case only", r, 200, "")
	if m := r.json(t); m["email_verified"] != true || rec.count() != 0 {
		t.Errorf("a case-only change unverified the address or sent mail: %v", m)
	}

	r = e.do("PATCH", "/me", jsonBody("email", "alicia@example.org"), bearer(access)...)
	mustStatus(t, "new email", r, 200, "")
	if m := r.json(t); m["email"] != "alicia@example.org" || m["email_verified"] != false {
		t.Errorf("after email change: %v", m)
	}
	tok := rec.lastToken(t, "alicia@example.org", e.cfg.Mail.VerifyURL)
	mustStatus(t, "verify new email", e.do("POST", "/auth/verify-email", jsonBody("token", tok)), 200, "")
	me := e.do("GET", "/me", "", bearer(access)...)
	if m := me.json(t); m["email_verified"] != true || m["username"] != "alicia" {
		t.Errorf("me after verification: %v", m)
	}
}

func TestEmailChangeInvalidatesLinksMailedToTheOldAddress(t *testing.T) {
	e, rec := newAccountEnv(t, registrationOn)
	mustStatus(t, "register", e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1")), 201, "")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "carol@example.com")), 202, "")
	oldVerify := rec.lastToken(t, "carol@example.com", e.cfg.Mail.VerifyURL)
	oldReset := rec.lastToken(t, "carol@example.com", e.cfg.Mail.ResetURL)
	access, _ := e.login("carol", "carol-password-1")
	mustStatus(t, "change email", e.do("PATCH", "/me", jsonBody("email", "carol@example.org"), bearer(access)...), 200, "")
	mustStatus(t, "old verify link", e.do("POST", "/auth/verify-email", jsonBody("token", oldVerify)), 400, "invalid-one-time-token")
	mustStatus(t, "old reset link", e.do("POST", "/auth/reset-password", jsonBody("token", oldReset, "password", "carol-password-2")), 400, "invalid-one-time-token")
	u, _ := e.st.GetUserByUsername(t.Context(), "carol")
	if u.EmailVerified {
		t.Error("the new address was verified by the old link")
	}
}

func TestConcurrentUsesOfOneResetTokenGiveOneSuccess(t *testing.T) {
	e, rec := newAccountEnv(t, "")
	e.addUser("alice", "alice-password-1")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "alice@example.com")), 202, "")
	tok := rec.lastToken(t, "alice@example.com", e.cfg.Mail.ResetURL)
	codes := make(chan int, 6)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- e.do("POST", "/auth/reset-password", jsonBody("token", tok, "password", fmt.Sprintf("new-password-%d", i))).status
		}()
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		switch c {
		case 200:
			ok++
		case 400:
		default:
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent resets with one token succeeded, want exactly 1", ok)
	}
}
