package gateway

import (
	"net/url"
	"testing"
)

// Every route that reads a JSON body refuses one whose Content-Type does
// not say JSON: no Content-Type and text/plain are what a foreign page can
// send cross-site without a CORS preflight.
func TestJSONRoutesRefuseBodiesThatDoNotSayJSON(t *testing.T) {
	a := newAdminEnv(t)
	e := a.testEnv
	e.g.cfg.Users.Registration = true
	access, _ := e.login("alice", "alice-password-1")
	auth := "Bearer " + access
	for _, rt := range []struct {
		method, path, auth, body string
	}{
		{"POST", "/auth", "", jsonBody("username", "alice", "password", "alice-password-1")},
		{"POST", "/auth/refresh", "", jsonBody("refresh_token", "x.y")},
		{"POST", "/auth/register", "", jsonBody("username", "erin", "email", "erin@example.com", "password", "erin-password-1")},
		{"POST", "/auth/verify-email/request", "", jsonBody("email", "alice@example.com")},
		{"POST", "/auth/verify-email", "", jsonBody("token", "x.y")},
		{"POST", "/auth/forgot-password", "", jsonBody("email", "alice@example.com")},
		{"POST", "/auth/reset-password", "", jsonBody("token", "x.y", "password", "alice-password-2")},
		{"POST", "/auth/password", auth, jsonBody("current_password", "alice-password-1", "new_password", "alice-password-2")},
		{"PATCH", "/me", auth, jsonBody("username", "alicia")},
		{"POST", "/auth/users", "Bearer " + a.admin, jsonBody("username", "erin", "password", "erin-password-1")},
		{"PATCH", "/auth/users/" + a.alice, "Bearer " + a.admin, jsonBody("username", "alicia")},
	} {
		for _, ct := range []string{"", "text/plain", "text/plain; charset=utf-8", "multipart/form-data; boundary=x", "application/jsonx"} {
			t.Run(rt.method+" "+rt.path+" "+ct, func(t *testing.T) {
				var h []string
				if ct != "" {
					h = append(h, "Content-Type", ct)
				}
				if rt.auth != "" {
					h = append(h, "Authorization", rt.auth)
				}
				// e.do sets application/json for a body starting with '{';
				// a space in front keeps the body JSON and the header ours.
				r := e.do(rt.method, rt.path, " "+rt.body, h...)
				mustStatus(t, "body without a JSON type", r, 415, "unsupported-media-type")
			})
		}
	}
	mustStatus(t, "nothing changed: old password", e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1")), 200, "")
	mustStatus(t, "nothing changed: no user erin", e.do("POST", "/auth", jsonBody("username", "erin", "password", "erin-password-1")), 401, "")
	mustStatus(t, "a +json type is JSON", e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1"), "Content-Type", "application/merge-patch+json"), 200, "")
}

// A password is text: invalid UTF-8, whether as raw bytes in a JSON body,
// as an unpaired surrogate escape (which encoding/json turns into U+FFFD)
// or percent-encoded in a form, is refused on every route that sets a
// password, and the password is not set.
func TestPasswordsThatAreNotValidUTF8AreRefusedWhereverOneIsSet(t *testing.T) {
	bad := []struct {
		name, json, form string // the password as it appears in a JSON string and in a form
		slug             string
	}{
		{"raw invalid byte", "pass\xffword-123", "", "bad-request"},
		{"lone surrogate escape", `pass\ud800word-123`, "", "weak-password"},
		{"replacement character", "pass\uFFFDword-123", "", "weak-password"},
		{"percent-encoded invalid byte", "", "pass%FFword-123", "weak-password"},
	}
	// Each setter sends the password p; after a refusal, "replacement"
	// must not log in (U+FFFD is what the raw byte used to become).
	const replacement = "pass\uFFFDword-123"
	// No lockout: the test logs in with a wrong password after each case.
	e, rec := newAccountEnv(t, registrationOn, replace("rate_limits:\n", "rate_limits:\n  lockout_failures: -1\n"))
	root := e.addUser("root", "root-password-1", "admin")
	alice := e.addUser("alice", "alice-password-1", "user")
	admin, _ := e.login("root", "root-password-1")
	a := &adminEnv{testEnv: e, rec: rec, admin: admin, root: root.ID, alice: alice.ID}
	access, _ := e.login("alice", "alice-password-1")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "alice@example.com")), 202, "")
	tok := a.rec.lastToken(t, "alice@example.com", e.cfg.Mail.ResetURL)
	for _, tc := range bad {
		setters := []struct {
			name, user string
			send       func() resp
		}{
			{"register", "erin", func() resp {
				return e.do("POST", "/auth/register", `{"username":"erin","email":"erin@example.com","password":"`+tc.json+`"}`)
			}},
			{"admin create", "frank", func() resp {
				return a.as("POST", "/auth/users", `{"username":"frank","password":"`+tc.json+`"}`)
			}},
			{"admin patch", "alice", func() resp {
				return a.as("PATCH", "/auth/users/"+a.alice, `{"password":"`+tc.json+`"}`)
			}},
			{"change", "alice", func() resp {
				return e.do("POST", "/auth/password", `{"current_password":"alice-password-1","new_password":"`+tc.json+`"}`, bearer(access)...)
			}},
			{"reset", "alice", func() resp {
				return e.do("POST", "/auth/reset-password", `{"token":"`+tok+`","password":"`+tc.json+`"}`)
			}},
			{"reset form", "alice", func() resp {
				return e.do("POST", "/auth/reset-password", "token="+url.QueryEscape(tok)+"&password="+tc.form, "Content-Type", "application/x-www-form-urlencoded")
			}},
		}
		for _, s := range setters {
			if (s.name == "reset form") != (tc.form != "") {
				continue
			}
			t.Run(tc.name+"/"+s.name, func(t *testing.T) {
				r := s.send()
				mustStatus(t, s.name, r, 400, tc.slug)
				mustStatus(t, "the replaced password does not log in", e.do("POST", "/auth", jsonBody("username", s.user, "password", replacement)), 401, "")
			})
		}
	}
	mustStatus(t, "the old password still works", e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1")), 200, "")
	mustStatus(t, "the reset link is still usable", e.do("POST", "/auth/reset-password", jsonBody("token", tok, "password", "alice-password-2")), 200, "")
}
