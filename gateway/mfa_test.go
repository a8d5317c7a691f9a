package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Second factors through the real gateway: the JSON routes under
// /auth/mfa, the rules that require a second factor, and what the upstream
// receives. TOTP codes are computed (RFC 6238) at the gateway's clock,
// which the tests move.

const mfaOn = `
tokens: {access_ttl: 1h}
mfa:
  enabled: true
  encryption_key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
  fresh_for: 2m
`

// mfaRules go before the test config's rules (the first match decides).
const mfaRules = `rules:
  - {path: /secure/**, policy: authenticated, mfa: required}
  - {path: /recent/**, policy: authenticated, mfa: required, max_age: 1m}
`

// clock is the gateway's clock: it starts at the real time (tokens are
// issued with it) and only moves forward.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type mfaEnv struct {
	*testEnv
	clk *clock
}

func newMFAEnv(t *testing.T, edit func(string) string) *mfaEnv {
	t.Helper()
	clk := &clock{t: time.Now()}
	e := newEnv(t, func(y string) string {
		y = strings.Replace(y, "rules:\n", mfaRules, 1) + mfaOn
		if edit != nil {
			y = edit(y)
		}
		return y
	}, func(o *Options) { o.Now = clk.now })
	return &mfaEnv{testEnv: e, clk: clk}
}

// code is the TOTP code of secret at the gateway's clock moved by d.
func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the next 30-second step: a code of the step
// just used would be a replay.
func (e *mfaEnv) nextStep() { e.clk.add(30 * time.Second) }

// claimsOf decodes the payload of a JWT (the tests trust their gateway).
func claimsOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func amrOf(t testing.TB, tok string) []string {
	var out []string
	for _, v := range claimsOf(t, tok)["amr"].([]any) {
		out = append(out, v.(string))
	}
	slices.Sort(out)
	return out
}

// enrolTOTP enrols a TOTP with tok (a full or an enrol token) and returns
// the secret and the confirm answer.
func (e *mfaEnv) enrolTOTP(tok string) (string, map[string]any) {
	e.t.Helper()
	r := e.do("POST", "/auth/mfa/totp", "", bearer(tok)...)
	mustStatus(e.t, "begin totp", r, 200, "")
	m := r.json(e.t)
	secret, _ := m["secret"].(string)
	if secret == "" || !strings.HasPrefix(m["otpauth_url"].(string), "otpauth://totp/") {
		e.t.Fatalf("begin totp: %s", r.body)
	}
	r = e.do("POST", "/auth/mfa/totp/confirm", jsonBody("code", code(e.t, secret, e.clk.now())), bearer(tok)...)
	mustStatus(e.t, "confirm totp", r, 200, "")
	e.nextStep()
	return secret, r.json(e.t)
}

// passwordStep signs in with the password and returns the restricted
// access token (second step pending).
func (e *mfaEnv) passwordStep(user, password string) string {
	e.t.Helper()
	tok, _ := e.login(user, password)
	if step := claimsOf(e.t, tok)["mfa"]; step != "verify" {
		e.t.Fatalf("sign-in of %s: step %v, want verify", user, step)
	}
	return tok
}

func (e *mfaEnv) verify(tok, method, code string) resp {
	e.t.Helper()
	return e.do("POST", "/auth/mfa/verify", jsonBody("method", method, "code", code), bearer(tok)...)
}

// fullToken signs in with the password and a TOTP code.
func (e *mfaEnv) fullToken(user, password, secret string) string {
	e.t.Helper()
	r := e.verify(e.passwordStep(user, password), "totp", code(e.t, secret, e.clk.now()))
	mustStatus(e.t, "verify", r, 200, "")
	e.nextStep()
	return r.json(e.t)["access_token"].(string)
}

func TestTOTPEndToEnd(t *testing.T) {
	e := newMFAEnv(t, nil)
	u := e.addUser("alice", "alice-password-1", "user")
	tok, _ := e.login("alice", "alice-password-1")
	if amr := amrOf(t, tok); !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("password sign-in without a factor: amr %v", amr)
	}

	// Enrol: the secret once, as text and as a PNG QR code; a wrong first
	// code does not confirm it.
	r := e.do("POST", "/auth/mfa/totp", "", bearer(tok)...)
	mustStatus(t, "begin", r, 200, "")
	begin := r.json(t)
	secret := begin["secret"].(string)
	qr, err := base64.StdEncoding.DecodeString(begin["qr_png"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(qr)); err != nil {
		t.Errorf("qr_png is not a PNG: %v", err)
	}
	if ou, _ := url.Parse(begin["otpauth_url"].(string)); ou == nil || ou.Query().Get("secret") != secret || ou.Query().Get("issuer") == "" {
		t.Errorf("otpauth_url %q", begin["otpauth_url"])
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the secret's answer may be cached: %q", r.header.Get("Cache-Control"))
	}
	wrong := code(t, secret, e.clk.now().Add(-10*time.Minute))
	r = e.do("POST", "/auth/mfa/totp/confirm", jsonBody("code", wrong), bearer(tok)...)
	if r.status != 401 || r.problemType(t) != "second-factor-invalid" {
		t.Fatalf("a wrong first code: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/auth/mfa", "", bearer(tok)...)
	if r.status != 200 || r.json(t)["totp"] != false {
		t.Fatalf("status before the confirmation: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/auth/mfa/totp/confirm", jsonBody("code", code(t, secret, e.clk.now())), bearer(tok)...)
	mustStatus(t, "confirm", r, 200, "")
	confirmed := r.json(t)
	codes, _ := confirmed["recovery_codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("the first factor gives 10 recovery codes: %s", r.body)
	}
	// The session that enrolled its first factor is replaced by one whose
	// amr has it; the password-only token's session has ended.
	enrolled, _ := confirmed["access_token"].(string)
	if enrolled == "" {
		t.Fatalf("the first factor's enrolment gives a new token pair: %s", r.body)
	}
	if r := e.do("GET", "/auth/mfa", "", bearer(tok)...); r.status != 401 {
		t.Errorf("the session that enrolled still works: %d %s", r.status, r.body)
	}
	tok = enrolled
	used := code(t, secret, e.clk.now())
	e.nextStep()
	r = e.do("GET", "/auth/mfa", "", bearer(tok)...)
	if m := r.json(t); m["totp"] != true || m["recovery_codes_left"] != float64(10) {
		t.Fatalf("status after enrolment: %s", r.body)
	}
	mustStatus(t, "logout", e.do("POST", "/logout", "", bearer(tok)...), 204, "")

	// The password alone gives a token that finishes the second step and
	// nothing else: the upstream receives nothing.
	restricted := e.passwordStep("alice", "alice-password-1")
	if amr := amrOf(t, restricted); !slices.Equal(amr, []string{"pwd"}) {
		t.Errorf("restricted token amr %v", amr)
	}
	before := e.hits.Load()
	for _, p := range []string{"/api/report", "/secure/admin", "/other/x"} {
		r := e.do("GET", p, "", bearer(restricted)...)
		if r.status != 401 || r.problemType(t) != "second-factor-required" || r.json(t)["step"] != "verify" {
			t.Errorf("restricted token on %s: %d %s", p, r.status, r.body)
		}
	}
	if n := e.hits.Load() - before; n != 0 {
		t.Errorf("the upstream received %d requests of a restricted token", n)
	}
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/me", `{"email":"x@example.com"}`},
		{"POST", "/auth/password", `{"current_password":"alice-password-1","new_password":"alice-password-2"}`},
		{"POST", "/auth/mfa/totp", ""},
		{"POST", "/auth/mfa/recovery-codes", ""},
		{"DELETE", "/auth/mfa/totp", ""},
	} {
		if r := e.do(c.method, c.path, c.body, bearer(restricted)...); r.status < 400 || r.status >= 500 {
			t.Errorf("restricted token %s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if r := e.do("GET", "/me", "", bearer(restricted)...); r.status != 200 {
		t.Errorf("/me with a restricted token: %d %s", r.status, r.body)
	}

	// A replayed code (the one the enrolment spent) is refused.
	if r := e.verify(restricted, "totp", used); r.status != 401 || r.problemType(t) != "second-factor-invalid" {
		t.Fatalf("replayed enrolment code: %d %s", r.status, r.body)
	}
	now := code(t, secret, e.clk.now())
	r = e.verify(restricted, "totp", now)
	mustStatus(t, "verify", r, 200, "")
	full := r.json(t)["access_token"].(string)
	if amr := amrOf(t, full); !slices.Equal(amr, []string{"otp", "pwd"}) {
		t.Errorf("full token amr %v", amr)
	}
	if at, _ := claimsOf(t, full)["auth_time"].(float64); int64(at) != e.clk.now().Unix() {
		t.Errorf("auth_time %v, want %d", claimsOf(t, full)["auth_time"], e.clk.now().Unix())
	}
	if claimsOf(t, full)["sid"] == claimsOf(t, restricted)["sid"] {
		t.Error("the second step kept the session of the password step (fixation)")
	}
	if r := e.do("GET", "/api/x", "", bearer(restricted)...); r.status != 401 {
		t.Errorf("the restricted session lives on after the second step: %d", r.status)
	}

	// The full token reaches the mfa: required path; the upstream sees the user.
	r = e.do("GET", "/secure/admin?x=1", "", bearer(full)...)
	mustStatus(t, "mfa: required path", r, 200, "")
	if h := upstreamHeaders(t, r); h.Get("X-User-Id") != u.ID || h.Get("X-User-Name") != "alice" || h.Get("Authorization") != "" {
		t.Errorf("upstream received %v", h)
	}

	// The same code again, on a new password step: a replay.
	again := e.passwordStep("alice", "alice-password-1")
	if r := e.verify(again, "totp", now); r.status != 401 || r.problemType(t) != "second-factor-invalid" {
		t.Fatalf("replayed code: %d %s", r.status, r.body)
	}
	// A password-only session of a user without a factor is refused at the
	// mfa: required path with the step "verify" as well.
	e.addUser("bob", "bob-password-1", "user")
	bob, _ := e.login("bob", "bob-password-1")
	if r := e.do("GET", "/secure/admin", "", bearer(bob)...); r.status != 401 || r.problemType(t) != "second-factor-required" {
		t.Errorf("password-only token at mfa: required: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/x", "", bearer(bob)...); r.status != 200 {
		t.Errorf("password-only token elsewhere: %d %s", r.status, r.body)
	}
}

// upstreamHeaders is the headers the echo upstream received.
func upstreamHeaders(t *testing.T, r resp) http.Header { return http.Header(echoed(t, r).Headers) }

func TestTOTPClockSkew(t *testing.T) {
	e := newMFAEnv(t, func(y string) string {
		return strings.Replace(y, "rate_limits:\n", "rate_limits:\n  second_factor_per_user: \"100-M\"\n", 1)
	})
	e.addUser("carol", "carol-password-1")
	tok, _ := e.login("carol", "carol-password-1")
	secret, _ := e.enrolTOTP(tok)
	for _, c := range []struct {
		name  string
		shift time.Duration
		ok    bool
	}{
		// Refusals first: an accepted step makes every earlier one a replay.
		{"three steps behind", -90 * time.Second, false},
		{"three steps ahead", 90 * time.Second, false},
		{"one step behind (skew 1)", -30 * time.Second, true},
		{"now", 0, true},
		{"one step ahead (skew 1)", 30 * time.Second, true},
	} {
		e.nextStep()
		r := e.verify(e.passwordStep("carol", "carol-password-1"), "totp", code(t, secret, e.clk.now().Add(c.shift)))
		if c.ok != (r.status == 200) {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if !c.ok && r.problemType(t) != "second-factor-invalid" {
			t.Errorf("%s: %s", c.name, r.body)
		}
		if c.ok {
			e.nextStep() // past the step just spent
		}
	}
}

func TestSecondFactorBruteForceIsLimitedThenLocked(t *testing.T) {
	e := newMFAEnv(t, func(y string) string {
		return strings.Replace(y, "rate_limits:\n", "rate_limits:\n  lockout_failures: 4\n  second_factor_per_user: \"5-M\"\n", 1)
	})
	e.addUser("dave", "dave-password-1")
	tok, _ := e.login("dave", "dave-password-1")
	secret, _ := e.enrolTOTP(tok)
	restricted := e.passwordStep("dave", "dave-password-1")
	var statuses []int
	limited := false
	for i := 0; i < 12; i++ {
		r := e.verify(restricted, "totp", "000000")
		statuses = append(statuses, r.status)
		switch r.status {
		case 401:
			if limited {
				t.Errorf("attempt %d: 401 after a 429", i)
			}
		case 429:
			limited = true
			if r.header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After: %s", r.body)
			}
		default:
			t.Fatalf("attempt %d: %d %s", i, r.status, r.body)
		}
	}
	if !limited || statuses[0] != 401 {
		t.Fatalf("guesses were answered %v, want 401s then 429", statuses)
	}
	// While limited, the right code is refused too: it cannot be told from a guess.
	if r := e.verify(restricted, "totp", code(t, secret, e.clk.now())); r.status != 429 {
		t.Errorf("the right code while limited: %d %s", r.status, r.body)
	}
	// The failures counted toward the lockout of the account's sign-in.
	r := e.do("POST", "/auth", jsonBody("username", "dave", "password", "dave-password-1"))
	if r.status != 429 || r.problemType(t) != "account-locked" {
		t.Errorf("sign-in after repeated second-factor failures: %d %s", r.status, r.body)
	}
}

func TestRecoveryCodeWorksOnce(t *testing.T) {
	e := newMFAEnv(t, nil)
	e.addUser("erin", "erin-password-1")
	tok, _ := e.login("erin", "erin-password-1")
	_, confirmed := e.enrolTOTP(tok)
	codes := confirmed["recovery_codes"].([]any)
	rc := codes[3].(string)
	r := e.verify(e.passwordStep("erin", "erin-password-1"), "recovery_code", rc)
	mustStatus(t, "recovery code", r, 200, "")
	full := r.json(t)["access_token"].(string)
	if amr := amrOf(t, full); !slices.Equal(amr, []string{"kba", "pwd"}) {
		t.Errorf("amr after a recovery code: %v", amr)
	}
	if r := e.do("GET", "/secure/x", "", bearer(full)...); r.status != 200 {
		t.Errorf("a recovery code is a second factor for mfa: required: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/auth/mfa", "", bearer(full)...)
	if r.json(t)["recovery_codes_left"] != float64(9) {
		t.Errorf("after one use: %s", r.body)
	}
	if r := e.verify(e.passwordStep("erin", "erin-password-1"), "recovery_code", rc); r.status != 401 || r.problemType(t) != "second-factor-invalid" {
		t.Errorf("a used recovery code again: %d %s", r.status, r.body)
	}
	// Regenerated codes replace the old ones.
	r = e.do("POST", "/auth/mfa/recovery-codes", "", bearer(full)...)
	mustStatus(t, "regenerate", r, 200, "")
	fresh := r.json(t)["recovery_codes"].([]any)
	if len(fresh) != 10 {
		t.Fatalf("regenerated: %s", r.body)
	}
	if r := e.verify(e.passwordStep("erin", "erin-password-1"), "recovery_code", codes[5].(string)); r.status != 401 {
		t.Errorf("an old code after regeneration: %d %s", r.status, r.body)
	}
	if r := e.verify(e.passwordStep("erin", "erin-password-1"), "recovery_code", fresh[0].(string)); r.status != 200 {
		t.Errorf("a new code: %d %s", r.status, r.body)
	}
}

func TestRemovingTOTPNeedsAFreshSecondFactor(t *testing.T) {
	e := newMFAEnv(t, nil)
	e.addUser("frank", "frank-password-1")
	tok, _ := e.login("frank", "frank-password-1")
	secret, _ := e.enrolTOTP(tok)
	full := e.fullToken("frank", "frank-password-1", secret)

	// A stolen session: the password step alone cannot remove it...
	stolen := e.passwordStep("frank", "frank-password-1")
	if r := e.do("DELETE", "/auth/mfa/totp", "", bearer(stolen)...); r.status < 400 || r.status >= 500 {
		t.Errorf("remove with a restricted token: %d %s", r.status, r.body)
	}
	// ...nor a full session whose second factor is older than fresh_for.
	e.clk.add(3 * time.Minute)
	r := e.do("DELETE", "/auth/mfa/totp", "", bearer(full)...)
	if r.status != 403 || r.problemType(t) != "fresh-second-factor-required" {
		t.Fatalf("remove with a stale second factor: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/auth/mfa/recovery-codes", "", bearer(full)...); r.status != 403 {
		t.Errorf("regenerate with a stale second factor: %d %s", r.status, r.body)
	}
	// A step-up with a new code makes it fresh.
	r = e.verify(full, "totp", code(t, secret, e.clk.now()))
	mustStatus(t, "step-up", r, 200, "")
	fresh := r.json(t)["access_token"].(string)
	mustStatus(t, "remove", e.do("DELETE", "/auth/mfa/totp", "", bearer(fresh)...), 204, "")
	if r := e.do("GET", "/auth/mfa", "", bearer(fresh)...); r.json(t)["totp"] != false {
		t.Errorf("status after removal: %s", r.body)
	}
	e.nextStep()
	if tok, _ := e.login("frank", "frank-password-1"); claimsOf(t, tok)["mfa"] != nil {
		t.Errorf("a sign-in after removing the only factor still asks for one: %v", claimsOf(t, tok))
	}
}

func TestAdminResetsSecondFactors(t *testing.T) {
	e := newMFAEnv(t, nil)
	e.addUser("root", "root-password-1", "admin")
	admin, _ := e.login("root", "root-password-1")
	g := e.addUser("gina", "gina-password-1")
	tok, _ := e.login("gina", "gina-password-1")
	secret, _ := e.enrolTOTP(tok)
	full := e.fullToken("gina", "gina-password-1", secret)

	if r := e.do("DELETE", "/auth/users/"+g.ID+"/mfa", "", bearer(full)...); r.status != 403 {
		t.Errorf("a user resetting (themselves): %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/auth/users/no-such-user/mfa", "", bearer(admin)...); r.status != 404 {
		t.Errorf("reset of an unknown user: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/auth/users/"+g.ID+"/mfa", "", bearer(admin)...); r.status != 405 || r.header.Get("Allow") != "DELETE" {
		t.Errorf("GET on the reset route: %d %q", r.status, r.header.Get("Allow"))
	}
	mustStatus(t, "reset", e.do("DELETE", "/auth/users/"+g.ID+"/mfa", "", bearer(admin)...), 204, "")
	if r := e.do("GET", "/api/x", "", bearer(full)...); r.status != 401 {
		t.Errorf("the user's sessions outlive the reset: %d %s", r.status, r.body)
	}
	tok, _ = e.login("gina", "gina-password-1")
	if claimsOf(t, tok)["mfa"] != nil {
		t.Errorf("after the reset the password is enough again: %v", claimsOf(t, tok))
	}
	if r := e.do("GET", "/auth/mfa", "", bearer(tok)...); r.json(t)["totp"] != false {
		t.Errorf("status after the reset: %s", r.body)
	}
}

func TestMaxAgeAsksForAStepUp(t *testing.T) {
	e := newMFAEnv(t, nil)
	e.addUser("hank", "hank-password-1")
	tok, _ := e.login("hank", "hank-password-1")
	secret, _ := e.enrolTOTP(tok)
	full := e.fullToken("hank", "hank-password-1", secret)
	mustStatus(t, "recent", e.do("GET", "/recent/x", "", bearer(full)...), 200, "")
	e.clk.add(2 * time.Minute)
	r := e.do("GET", "/recent/x", "", bearer(full)...)
	if r.status != 401 || r.problemType(t) != "second-factor-required" || r.json(t)["step"] != "step_up" {
		t.Fatalf("after max_age: %d %s", r.status, r.body)
	}
	mustStatus(t, "not recent but mfa", e.do("GET", "/secure/x", "", bearer(full)...), 200, "")
	r = e.verify(full, "totp", code(t, secret, e.clk.now()))
	mustStatus(t, "step-up", r, 200, "")
	stepped := r.json(t)["access_token"].(string)
	mustStatus(t, "recent again", e.do("GET", "/recent/x", "", bearer(stepped)...), 200, "")
}

func TestMFARoutesAnswerBadRequestsWithProblems(t *testing.T) {
	e := newMFAEnv(t, func(y string) string {
		return y + "  webauthn: {rp_id: localhost, origins: [\"http://localhost:8080\"]}\n"
	})
	e.addUser("ivy", "ivy-password-1")
	tok, _ := e.login("ivy", "ivy-password-1")
	for _, c := range []struct {
		method, path, body, ct string
		status                 int
	}{
		{"POST", "/auth/mfa/verify", `{"method":"totp"}`, "", 400},
		{"POST", "/auth/mfa/verify", `{"method":"sms","code":"123456"}`, "", 400},
		{"POST", "/auth/mfa/verify", `{"method":1,"code":"123456"}`, "", 400},
		{"POST", "/auth/mfa/verify", `{"method":"totp","code":`, "", 400},
		{"POST", "/auth/mfa/verify", `method=totp&code=1`, "application/x-www-form-urlencoded", 415},
		{"POST", "/auth/mfa/verify", `[]`, "", 400},
		{"POST", "/auth/mfa/totp/confirm", `{}`, "", 400},
		{"POST", "/auth/mfa/totp/confirm", `{"code":["1"]}`, "", 400},
		{"POST", "/auth/mfa/passkeys/finish", `[]`, "", 400},
		{"POST", "/auth/mfa/passkeys/finish", `"x"`, "", 400},
		{"POST", "/auth/mfa/passkeys/finish", `{}`, "", 400},
		{"POST", "/auth/mfa/passkeys/finish", `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`, "", 400},
		{"POST", "/auth/mfa/passkeys/login/finish", `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`, "", 400},
		{"POST", "/auth/mfa/passkeys/login/finish", `{"id":`, "", 400},
		{"DELETE", "/auth/mfa/passkeys/no-such-passkey", "", "", 409},
		{"GET", "/auth/mfa/verify", "", "", 405},
		{"PUT", "/auth/mfa/totp", "", "", 405},
	} {
		h := bearer(tok)
		if c.ct != "" {
			h = append(h, "Content-Type", c.ct)
		}
		r := e.do(c.method, c.path, c.body, h...)
		if r.status != c.status && !(c.status == 400 && r.status >= 400 && r.status < 500) {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, r.status, r.body, c.status)
		}
		if r.status >= 500 {
			t.Errorf("%s %s %s: %d", c.method, c.path, c.body, r.status)
		}
		r.problemType(t)
	}
	for _, p := range []string{"/auth/mfa", "/auth/mfa/totp", "/auth/mfa/passkeys", "/auth/mfa/verify"} {
		if r := e.do("GET", p, ""); r.status != 401 && r.status != 405 {
			t.Errorf("%s without a token: %d", p, r.status)
		}
	}
}

func TestMFARoutesAreOffByDefault(t *testing.T) {
	e := newEnv(t, nil)
	e.addUser("jo", "jo-password-1")
	tok, _ := e.login("jo", "jo-password-1")
	for _, p := range []string{"/auth/mfa", "/auth/mfa/totp", "/auth/users/x/mfa"} {
		if r := e.do("POST", p, "", bearer(tok)...); r.status == 200 || r.status >= 500 {
			t.Errorf("%s with mfa off: %d %s", p, r.status, r.body)
		}
	}
	if claimsOf(t, tok)["amr"] == nil {
		t.Error("tokens carry amr with mfa off too")
	}
}

// One flow on two instances sharing Redis: the spent TOTP step is shared,
// so a code used on one instance is a replay on the other.
func TestTOTPAcrossInstancesOnRedis(t *testing.T) {
	envs := redisEnvs(t, 2, func(y string) string {
		return strings.Replace(y, "rules:\n", mfaRules, 1) + strings.Replace(mfaOn, "tokens: {access_ttl: 1h}\n", "", 1)
	})
	a, b := &mfaEnv{testEnv: envs[0], clk: &clock{t: time.Now()}}, &mfaEnv{testEnv: envs[1]}
	a.addUser("kim", "kim-password-1")
	tok, _ := a.login("kim", "kim-password-1")
	secret, confirmed := a.enrolTOTP(tok)
	if len(confirmed["recovery_codes"].([]any)) != 10 {
		t.Fatalf("confirm: %v", confirmed)
	}
	// The enrolment spent the current step: the next one is within the
	// skew of one step (these instances run on the real clock).
	now := code(t, secret, time.Now().Add(30*time.Second))
	restricted := b.passwordStep("kim", "kim-password-1")
	r := b.verify(restricted, "totp", now)
	mustStatus(t, "verify on b", r, 200, "")
	full := r.json(t)["access_token"].(string)
	if r := a.do("GET", "/secure/x", "", bearer(full)...); r.status != 200 {
		t.Errorf("b's full token on a: %d %s", r.status, r.body)
	}
	if r := a.verify(a.passwordStep("kim", "kim-password-1"), "totp", now); r.status != 401 {
		t.Errorf("b's code replayed on a: %d %s", r.status, r.body)
	}
}

const passkeysOn = "  webauthn: {rp_id: localhost, origins: [\"http://localhost:8080\"]}\n"

// addPasskey registers k with tok through the JSON routes and returns the
// finish answer.
func (e *mfaEnv) addPasskey(tok string, k *softKey, name string) resp {
	e.t.Helper()
	r := e.do("POST", "/auth/mfa/passkeys/begin", "", bearer(tok)...)
	mustStatus(e.t, "passkey begin", r, 200, "")
	return e.do("POST", "/auth/mfa/passkeys/finish?name="+url.QueryEscape(name), string(k.create(r.body)), bearer(tok)...)
}

// passkeyStep finishes the second step of tok with k.
func (e *mfaEnv) passkeyStep(tok string, k *softKey) (resp, []byte) {
	e.t.Helper()
	r := e.do("POST", "/auth/mfa/passkeys/login/begin", "", bearer(tok)...)
	mustStatus(e.t, "passkey login begin", r, 200, "")
	assertion := k.get(r.body)
	return e.do("POST", "/auth/mfa/passkeys/login/finish", string(assertion), bearer(tok)...), assertion
}

func TestPasskeyEndToEnd(t *testing.T) {
	e := newMFAEnv(t, func(y string) string { return y + passkeysOn })
	e.addUser("pat", "pat-password-1")
	tok, _ := e.login("pat", "pat-password-1")
	k := newSoftKey(t, "http://localhost:8080")
	r := e.addPasskey(tok, k, "Laptop")
	mustStatus(t, "passkey finish", r, 201, "")
	finished := r.json(t)
	if codes, _ := finished["recovery_codes"].([]any); len(codes) != 10 {
		t.Errorf("the first factor gives recovery codes: %s", r.body)
	}
	// The first factor's enrolment hands back a session whose amr has it.
	if tok, _ = finished["access_token"].(string); tok == "" {
		t.Fatalf("the first passkey's enrolment gives no new token pair: %s", r.body)
	}
	if amr := amrOf(t, tok); !slices.Equal(amr, []string{"hwk", "pwd"}) {
		t.Errorf("amr after enrolling a passkey: %v", amr)
	}
	r = e.do("GET", "/auth/mfa/passkeys", "", bearer(tok)...)
	list, _ := r.json(t)["passkeys"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "Laptop" {
		t.Fatalf("passkeys: %s", r.body)
	}
	id := list[0].(map[string]any)["id"].(string)

	// Sign in: the password, then the passkey.
	restricted := e.passwordStep("pat", "pat-password-1")
	if r := e.do("POST", "/auth/mfa/passkeys/begin", "", bearer(restricted)...); r.status < 400 || r.status >= 500 {
		t.Errorf("a restricted token registers a passkey: %d %s", r.status, r.body)
	}
	before := e.hits.Load()
	if r := e.do("GET", "/secure/x", "", bearer(restricted)...); r.status != 401 || e.hits.Load() != before {
		t.Errorf("restricted token at mfa: required: %d", r.status)
	}
	r, assertion := e.passkeyStep(restricted, k)
	mustStatus(t, "passkey login", r, 200, "")
	full := r.json(t)["access_token"].(string)
	if amr := amrOf(t, full); !slices.Equal(amr, []string{"hwk", "pwd"}) {
		t.Errorf("amr after a passkey: %v", amr)
	}
	r = e.do("GET", "/secure/x", "", bearer(full)...)
	if r.status != 200 || upstreamHeaders(t, r).Get("X-User-Name") != "pat" {
		t.Errorf("mfa: required with a passkey: %d %s", r.status, r.body)
	}
	// The same assertion again (a replay) is refused.
	again := e.passwordStep("pat", "pat-password-1")
	e.do("POST", "/auth/mfa/passkeys/login/begin", "", bearer(again)...)
	if r := e.do("POST", "/auth/mfa/passkeys/login/finish", string(assertion), bearer(again)...); r.status != 401 || r.problemType(t) != "second-factor-invalid" {
		t.Errorf("a replayed assertion: %d %s", r.status, r.body)
	}
	// An assertion signed by another key is refused.
	k.a.SignWith = newSoftKey(t, "http://localhost:8080").a.Key
	if r, _ := e.passkeyStep(e.passwordStep("pat", "pat-password-1"), k); r.status != 401 || r.problemType(t) != "second-factor-invalid" {
		t.Errorf("a forged assertion: %d %s", r.status, r.body)
	}
	k.a.SignWith = nil
	// With a fresh second factor, the passkey can be removed.
	mustStatus(t, "remove passkey", e.do("DELETE", "/auth/mfa/passkeys/"+id, "", bearer(full)...), 204, "")
	r = e.do("GET", "/auth/mfa/passkeys", "", bearer(full)...)
	if list, _ := r.json(t)["passkeys"].([]any); len(list) != 0 {
		t.Errorf("after removal: %s", r.body)
	}
}
