package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/audit"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every event type, driven through the real flows: each line is one JSON
// object with the common fields, and no line holds a password, a token (access,
// refresh or mailed), a hash or the signing secret.
func TestEveryEventIsFreeOfSecrets(t *testing.T) {
	var out syncBuffer
	const hsSecret = "0123456789abcdef0123456789abcdef-audit"
	e := newEnv(t, func(y string) string {
		y = strings.Replace(y, "rate_limits:\n", "rate_limits:\n  mail_per_ip: \"1000-M\"\n  mail_per_email: \"3-H\"\n  lockout_failures: 3\n  second_factor_per_user: \"7-M\"\n", 1)
		return y + registrationOn + "tokens:\n  refresh_reuse_grace: 0s\n  keys:\n    - {kid: k, alg: HS256, secret: " + hsSecret + "}\n" +
			"mfa:\n  enabled: true\n  encryption_key: \"" + mfaKey + "\"\n" + passkeysOn
	}, func(o *Options) { o.Audit = audit.New(&out, nil) })
	rec := &recordingMailer{}
	e.g.acct.UseMailer(rec)
	ua := []string{"User-Agent", "audit-test/1.0"}
	secrets := []string{hsSecret}
	note := func(s ...string) { secrets = append(secrets, s...) }

	admin := e.addUser("root", "root-password-1", "admin", "user")
	note("root-password-1", admin.PasswordHash)
	adminTok, _ := e.login("root", "root-password-1")
	note(adminTok)

	// registration, verification, sign-in, profile change
	mustStatus(t, "register", e.do("POST", "/auth/register", jsonBody("username", "carol", "email", "carol@example.com", "password", "carol-password-1"), ua...), 201, "")
	note("carol-password-1")
	vt := rec.lastToken(t, "carol@example.com", e.cfg.Mail.VerifyURL)
	note(vt, strings.SplitN(vt, ".", 2)[1])
	mustStatus(t, "verify", e.do("POST", "/auth/verify-email", jsonBody("token", vt), ua...), 200, "")
	access, refresh := e.login("carol", "carol-password-1")
	note(access, refresh, strings.SplitN(refresh, ".", 2)[1])
	mustStatus(t, "patch me", e.do("PATCH", "/me", jsonBody("email", "carol@example.org"), append(bearer(access), ua...)...), 200, "")

	// refresh reuse
	r := e.do("POST", "/auth/refresh", jsonBody("refresh_token", refresh), ua...)
	mustStatus(t, "refresh", r, 200, "")
	note(r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string))
	mustStatus(t, "refresh reuse", e.do("POST", "/auth/refresh", jsonBody("refresh_token", refresh), ua...), 401, "")

	// password change (wrong, then right), reset, sign-out
	access, _ = e.login("carol", "carol-password-1")
	note(access)
	mustStatus(t, "change, wrong current", e.do("POST", "/auth/password", jsonBody("current_password", "not-my-password", "new_password", "carol-password-2"), append(bearer(access), ua...)...), 401, "")
	note("not-my-password")
	mustStatus(t, "change", e.do("POST", "/auth/password", jsonBody("current_password", "carol-password-1", "new_password", "carol-password-2"), append(bearer(access), ua...)...), 204, "")
	note("carol-password-2")
	mustStatus(t, "forgot", e.do("POST", "/auth/forgot-password", jsonBody("email", "carol@example.org"), ua...), 202, "")
	rt := rec.lastToken(t, "carol@example.org", e.cfg.Mail.ResetURL)
	note(rt, strings.SplitN(rt, ".", 2)[1])
	mustStatus(t, "reset", e.do("POST", "/auth/reset-password", jsonBody("token", rt, "password", "carol-password-3"), ua...), 200, "")
	note("carol-password-3")
	access, _ = e.login("carol", "carol-password-3")
	note(access)
	mustStatus(t, "logout", e.do("POST", "/logout", "", append(bearer(access), ua...)...), 204, "")

	// failures, lockout, rate limiting
	for i := 0; i < 4; i++ {
		r := e.do("POST", "/auth", jsonBody("username", "mallory", "password", "guess-number-1"), ua...)
		if r.status != 401 && r.status != 429 {
			t.Fatalf("guess %d: %d", i, r.status)
		}
	}
	note("guess-number-1")
	for i := 0; i < 4; i++ {
		e.do("POST", "/auth/forgot-password", jsonBody("email", "nobody@example.com"), ua...)
	}

	// admin changes, and a revocation as the command line makes it
	r = e.do("POST", "/auth/users", jsonBody("username", "dave", "password", "dave-password-1"), append(bearer(adminTok), ua...)...)
	mustStatus(t, "create", r, 201, "")
	note("dave-password-1")
	dave := r.json(t)["id"].(string)
	mustStatus(t, "patch", e.do("PATCH", "/auth/users/"+dave, `{"roles":["ops"],"password":"dave-password-2"}`, append(bearer(adminTok), ua...)...), 200, "")
	note("dave-password-2")
	if err := e.g.Accounts().RevokeSessions(context.Background(), dave, "cli:test"); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, "delete", e.do("DELETE", "/auth/users/"+dave, "", append(bearer(adminTok), ua...)...), 204, "")

	// second factors: enrol TOTP and a passkey, sign in with each, a
	// replayed and a wrong code, a recovery code, new codes, removals, a
	// rate-limited guesser and an admin's reset. No secret, code, recovery
	// code or passkey assertion may reach a line.
	secondFactorEvents(t, e, adminTok, ua, note)

	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		name, _ := ev["event"].(string)
		seen[name]++
		for _, f := range []string{"time", "event", "outcome"} {
			if ev[f] == nil || ev[f] == "" {
				t.Errorf("%s lacks %s: %s", name, f, line)
			}
		}
		// (e.login sends no User-Agent; every other request here does.)
		if name != audit.SessionsRevoked && (ev["client_ip"] == nil || ev["request_id"] == nil || (ev["user_agent"] != nil && ev["user_agent"] != "audit-test/1.0")) {
			t.Errorf("%s lacks the request's client_ip, request_id or user_agent: %s", name, line)
		}
		for _, s := range secrets {
			if s != "" && leaks(line, s) {
				t.Errorf("%s line holds a secret (%.12s…): %s", name, s, line)
			}
		}
		if strings.Contains(line, "$argon2") {
			t.Errorf("%s line holds a hash: %s", name, line)
		}
	}
	for _, name := range audit.Events {
		if seen[name] == 0 {
			t.Errorf("no %s event in:\n%s", name, out.String())
		}
	}
	for name := range seen {
		if !slices.Contains(audit.Events, name) {
			t.Errorf("event %q is not in audit.Events", name)
		}
	}
	// Second factors: each method and each kind of refusal has its reason.
	for _, want := range []string{
		`"event":"second_factor_enrolled".*"reason":"totp"`, `"event":"second_factor_enrolled".*"reason":"passkey"`,
		`"event":"second_factor".*"outcome":"success","reason":"totp"`, `"event":"second_factor".*"outcome":"success","reason":"passkey"`,
		`"event":"second_factor".*"outcome":"success","reason":"recovery_code"`,
		`"event":"second_factor".*"outcome":"failure","reason":"replayed"`, `"event":"second_factor".*"outcome":"failure","reason":"totp"`,
		`"event":"second_factor_removed".*"reason":"totp"`, `"event":"second_factor_removed".*"reason":"passkey"`,
		`"event":"second_factor_removed".*"actor":"` + admin.ID + `".*"reason":"admin_reset"`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("no line matches %s", want)
		}
	}
	// Who did what: the admin is the actor of admin changes.
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, `"event":"user_updated"`) && !strings.Contains(line, `"actor":"`+admin.ID+`"`) {
			t.Errorf("user_updated does not name the admin: %s", line)
		}
		if strings.Contains(line, `"event":"user_updated"`) && !strings.Contains(line, `"changes":["roles","password"]`) {
			t.Errorf("user_updated does not list the changed fields: %s", line)
		}
	}
}

const mfaKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// secondFactorEvents drives every second-factor event through the JSON
// routes, noting each secret they handle.
func secondFactorEvents(t *testing.T, e *testEnv, adminTok string, ua []string, note func(...string)) {
	note(mfaKey)
	m := &mfaEnv{testEnv: e, clk: &clock{t: time.Now()}}
	as := func(tok string) []string { return append(bearer(tok), ua...) }
	e.addUser("erin", "erin-password-1")
	note("erin-password-1")
	tok, _ := e.login("erin", "erin-password-1")
	r := e.do("POST", "/auth/mfa/totp", "", as(tok)...)
	mustStatus(t, "begin totp", r, 200, "")
	secret := r.json(t)["secret"].(string)
	note(secret, r.json(t)["otpauth_url"].(string), r.json(t)["qr_png"].(string))
	first := code(t, secret, time.Now())
	note(first)
	r = e.do("POST", "/auth/mfa/totp/confirm", jsonBody("code", first), as(tok)...)
	mustStatus(t, "confirm totp", r, 200, "")
	var codes []string
	for _, c := range r.json(t)["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	note(codes...)

	// the enrolment's code again (replayed), then the next step's code
	restricted := m.passwordStep("erin", "erin-password-1")
	note(restricted)
	mustStatus(t, "replayed code", e.do("POST", "/auth/mfa/verify", jsonBody("method", "totp", "code", first), as(restricted)...), 401, "second-factor-invalid")
	next := code(t, secret, time.Now().Add(30*time.Second))
	r = e.do("POST", "/auth/mfa/verify", jsonBody("method", "totp", "code", next), as(restricted)...)
	mustStatus(t, "verify totp", r, 200, "")
	full := r.json(t)["access_token"].(string)
	note(next, full, r.json(t)["refresh_token"].(string))

	// a passkey: registered, then used for the second step
	k := newSoftKey(t, "http://localhost:8080")
	r = e.do("POST", "/auth/mfa/passkeys/begin", "", as(full)...)
	mustStatus(t, "passkey begin", r, 200, "")
	created := k.create(r.body)
	r = e.do("POST", "/auth/mfa/passkeys/finish?name=Laptop", string(created), as(full)...)
	mustStatus(t, "passkey finish", r, 201, "")
	noteCredential(t, created, note)
	restricted = m.passwordStep("erin", "erin-password-1")
	note(restricted)
	r = e.do("POST", "/auth/mfa/passkeys/login/begin", "", as(restricted)...)
	mustStatus(t, "passkey login begin", r, 200, "")
	assertion := k.get(r.body)
	noteCredential(t, assertion, note)
	r = e.do("POST", "/auth/mfa/passkeys/login/finish", string(assertion), as(restricted)...)
	mustStatus(t, "passkey login", r, 200, "")
	full = r.json(t)["access_token"].(string)
	note(full)

	// a recovery code, then new codes, then the factors removed
	restricted = m.passwordStep("erin", "erin-password-1")
	r = e.do("POST", "/auth/mfa/verify", jsonBody("method", "recovery_code", "code", codes[0]), as(restricted)...)
	mustStatus(t, "recovery code", r, 200, "")
	full = r.json(t)["access_token"].(string)
	note(restricted, full)
	r = e.do("POST", "/auth/mfa/recovery-codes", "", as(full)...)
	mustStatus(t, "regenerate", r, 200, "")
	for _, c := range r.json(t)["recovery_codes"].([]any) {
		note(c.(string))
	}
	r = e.do("GET", "/auth/mfa/passkeys", "", as(full)...)
	id := r.json(t)["passkeys"].([]any)[0].(map[string]any)["id"].(string)
	mustStatus(t, "remove passkey", e.do("DELETE", "/auth/mfa/passkeys/"+id, "", as(full)...), 204, "")
	mustStatus(t, "remove totp", e.do("DELETE", "/auth/mfa/totp", "", as(full)...), 204, "")

	// a guesser, rate-limited; then an admin resets the account
	g := e.addUser("gus", "gus-password-1")
	note("gus-password-1")
	tok, _ = e.login("gus", "gus-password-1")
	r = e.do("POST", "/auth/mfa/totp", "", as(tok)...)
	gsecret := r.json(t)["secret"].(string)
	gcode := code(t, gsecret, time.Now())
	mustStatus(t, "confirm gus", e.do("POST", "/auth/mfa/totp/confirm", jsonBody("code", gcode), as(tok)...), 200, "")
	note(gsecret, gcode)
	restricted = m.passwordStep("gus", "gus-password-1")
	for i := 0; i < 8; i++ {
		e.do("POST", "/auth/mfa/verify", jsonBody("method", "totp", "code", "000000"), as(restricted)...)
	}
	mustStatus(t, "admin reset", e.do("DELETE", "/auth/users/"+g.ID+"/mfa", "", as(adminTok)...), 204, "")
}

// noteCredential notes a WebAuthn credential's bytes (the whole JSON and
// every field of its response).
func noteCredential(t *testing.T, cred []byte, note func(...string)) {
	var c struct {
		Response map[string]any `json:"response"`
	}
	if err := json.Unmarshal(cred, &c); err != nil {
		t.Fatal(err)
	}
	note(string(cred))
	for k, v := range c.Response {
		if s, ok := v.(string); ok && k != "userHandle" {
			note(s)
		}
	}
}

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

// leaks reports whether line holds s. A six-digit TOTP code counts only as
// a whole run of digits: six of the nanoseconds of a time field are not
// a leak.
func leaks(line, s string) bool {
	if !sixDigits.MatchString(s) {
		return strings.Contains(line, s)
	}
	return regexp.MustCompile(`(^|[^0-9])` + s + `([^0-9]|$)`).MatchString(line)
}
