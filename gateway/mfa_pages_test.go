package gateway

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The second-factor pages as a browser uses them: the second step after
// the password, the enrolment an account with a required role must make,
// and the security page.

const mfaBrowserOn = `
transport:
  cookies: {enabled: true}
browser:
  enabled: true
`

var (
	secretText = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	codeItem   = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
)

func newMFAPagesEnv(t *testing.T, extra string) *mfaEnv {
	return newMFAEnv(t, func(y string) string {
		y = strings.Replace(y, "mfa:\n  enabled: true\n", "mfa:\n  enabled: true\n  required_roles: [ops]\n", 1)
		return y + mfaBrowserOn + extra
	})
}

func TestSecondStepPage(t *testing.T) {
	e := newMFAPagesEnv(t, "")
	e.addUser("alice", "alice-password-1", "user")
	tok, _ := e.login("alice", "alice-password-1")
	secret, _ := e.enrolTOTP(tok)

	b := newTab(e.testEnv)
	r := b.signIn("/auth/ui/sign-in", "alice", "alice-password-1", "/secure/report?q=1")
	want := "/auth/ui/mfa?return_to=" + url.QueryEscape("/secure/report?q=1")
	if r.status != 303 || r.header.Get("Location") != want {
		t.Fatalf("sign-in of an account with a factor: %d %q, want 303 %q", r.status, r.header.Get("Location"), want)
	}
	// Until the second step, protected navigations go to the page.
	before := e.hits.Load()
	if r := b.navigate("/api/x"); r.status != 302 || !strings.HasPrefix(r.header.Get("Location"), "/auth/ui/mfa?return_to=") {
		t.Errorf("navigation with only the password: %d %q", r.status, r.header.Get("Location"))
	}
	if e.hits.Load() != before {
		t.Error("the upstream received a request of the password step")
	}
	page := b.navigate(want)
	if page.status != 200 || !strings.Contains(string(page.body), `name="code"`) || strings.Contains(string(page.body), "Use a passkey") {
		t.Fatalf("second-step page: %d %s", page.status, page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	r = b.post(want, "csrf", b.csrf(page), "method", "totp", "code", "000000", "return_to", "/secure/report?q=1")
	if r.status != 401 || !strings.Contains(string(r.body), "not valid") {
		t.Errorf("a wrong code: %d %s", r.status, r.body)
	}
	r = b.post(want, "csrf", b.csrf(r), "method", "totp", "code", code(t, secret, e.clk.now()))
	if r.status != 303 || r.header.Get("Location") != "/secure/report?q=1" {
		t.Fatalf("the right code: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	if r := b.navigate("/secure/report?q=1"); r.status != 200 || upstreamHeaders(t, r).Get("X-User-Name") != "alice" {
		t.Errorf("after the second step: %d %s", r.status, r.body)
	}
	// Without a CSRF token the form does nothing.
	if r := b.post(want, "method", "totp", "code", "123456"); r.status != 403 {
		t.Errorf("a form without its token: %d", r.status)
	}
	if r := b.navigate("/auth/ui/passkey.js"); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(string(r.body), "navigator.credentials") {
		t.Errorf("passkey.js: %d %q", r.status, r.header.Get("Content-Type"))
	}
}

func TestSecondStepPageTakesARecoveryCode(t *testing.T) {
	e := newMFAPagesEnv(t, "")
	e.addUser("erin", "erin-password-1")
	tok, _ := e.login("erin", "erin-password-1")
	_, confirmed := e.enrolTOTP(tok)
	rc := confirmed["recovery_codes"].([]any)[0].(string)
	b := newTab(e.testEnv)
	r := b.signIn("/auth/ui/sign-in", "erin", "erin-password-1", "/api/x")
	page := b.navigate(r.header.Get("Location"))
	r = b.post("/auth/ui/mfa", "csrf", b.csrf(page), "method", "recovery_code", "recovery_code", rc, "return_to", "/api/x")
	if r.status != 303 || r.header.Get("Location") != "/api/x" {
		t.Fatalf("recovery code: %d %s", r.status, r.body)
	}
	b2 := newTab(e.testEnv)
	r = b2.signIn("/auth/ui/sign-in", "erin", "erin-password-1", "/api/x")
	page = b2.navigate(r.header.Get("Location"))
	r = b2.post("/auth/ui/mfa", "csrf", b2.csrf(page), "method", "recovery_code", "recovery_code", rc)
	if r.status != 401 {
		t.Errorf("the same recovery code again: %d %s", r.status, r.body)
	}
}

func TestEnrolmentRequiredByRole(t *testing.T) {
	e := newMFAPagesEnv(t, "")
	e.addUser("olga", "olga-password-1", "ops")
	b := newTab(e.testEnv)
	r := b.signIn("/auth/ui/sign-in", "olga", "olga-password-1", "/api/dashboard")
	if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/auth/ui/mfa?") {
		t.Fatalf("sign-in of an account that must enrol: %d %q", r.status, r.header.Get("Location"))
	}
	if r := b.navigate("/api/dashboard"); r.status != 302 {
		t.Errorf("before enrolling: %d", r.status)
	}
	page := b.navigate(r.header.Get("Location"))
	if page.status != 200 || !strings.Contains(string(page.body), "Set up an authenticator app") {
		t.Fatalf("enrol page: %d %s", page.status, page.body)
	}
	r = b.post("/auth/ui/mfa", "csrf", b.csrf(page), "action", "totp-begin", "return_to", "/api/dashboard")
	m := secretText.FindSubmatch(r.body)
	if r.status != 200 || m == nil || !strings.Contains(string(r.body), `src="data:image/png;base64,`) {
		t.Fatalf("begun enrolment: %d %s", r.status, r.body)
	}
	secret := string(m[1])
	r = b.post("/auth/ui/mfa", "csrf", b.csrf(r), "action", "totp-confirm", "code", code(t, secret, e.clk.now()), "return_to", "/api/dashboard")
	codes := codeItem.FindAllSubmatch(r.body, -1)
	if r.status != 200 || len(codes) != 10 || !strings.Contains(string(r.body), `href="/api/dashboard"`) {
		t.Fatalf("confirmed enrolment: %d %d codes %s", r.status, len(codes), r.body)
	}
	if r := b.navigate("/api/dashboard"); r.status != 200 || upstreamHeaders(t, r).Get("X-User-Name") != "olga" {
		t.Errorf("after enrolling: %d %s", r.status, r.body)
	}
}

func TestSecurityPage(t *testing.T) {
	e := newMFAPagesEnv(t, "")
	e.addUser("sue", "sue-password-1")
	b := newTab(e.testEnv)
	if r := b.navigate("/auth/ui/security"); r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/auth/ui/sign-in?") {
		t.Fatalf("security page without a session: %d %q", r.status, r.header.Get("Location"))
	}
	b.signIn("/auth/ui/sign-in", "sue", "sue-password-1", "/auth/ui/security")
	page := b.navigate("/auth/ui/security")
	if page.status != 200 || !strings.Contains(string(page.body), "Set up an authenticator app") {
		t.Fatalf("security page: %d %s", page.status, page.body)
	}
	r := b.post("/auth/ui/security", "csrf", b.csrf(page), "action", "totp-begin")
	m := secretText.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("begin on the security page: %d %s", r.status, r.body)
	}
	secret := string(m[1])
	r = b.post("/auth/ui/security", "csrf", b.csrf(r), "action", "totp-confirm", "code", code(t, secret, e.clk.now()))
	if n := len(codeItem.FindAllSubmatch(r.body, -1)); r.status != 200 || n != 10 || !strings.Contains(string(r.body), "On.") {
		t.Fatalf("confirm on the security page: %d, %d codes: %s", r.status, n, r.body)
	}
	// Setting up the first factor replaced the session with one whose
	// amr has it; once that is older than fresh_for (2m here), removing
	// the factor needs a new proof.
	e.clk.add(3 * time.Minute)
	r = b.post("/auth/ui/security", "csrf", b.csrf(r), "action", "totp-remove")
	if r.status != 403 || !strings.Contains(string(r.body), `id="step-up"`) {
		t.Fatalf("remove without a recent second factor: %d %s", r.status, r.body)
	}
	// The step-up link leads to the second step and back here.
	stepUp := b.navigate("/auth/ui/mfa?return_to=" + url.QueryEscape("/auth/ui/security"))
	r = b.post("/auth/ui/mfa", "csrf", b.csrf(stepUp), "method", "totp", "code", code(t, secret, e.clk.now()), "return_to", "/auth/ui/security")
	if r.status != 303 || r.header.Get("Location") != "/auth/ui/security" {
		t.Fatalf("step-up: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	page = b.navigate("/auth/ui/security")
	r = b.post("/auth/ui/security", "csrf", b.csrf(page), "action", "recovery-regenerate")
	if n := len(codeItem.FindAllSubmatch(r.body, -1)); r.status != 200 || n != 10 {
		t.Errorf("regenerate: %d, %d codes", r.status, n)
	}
	r = b.post("/auth/ui/security", "csrf", b.csrf(r), "action", "totp-remove")
	if r.status != 200 || !strings.Contains(string(r.body), "Off.") {
		t.Errorf("remove with a fresh second factor: %d %s", r.status, r.body)
	}
	e.clk.add(time.Second)
}

// A must-change password and a second factor: the second step comes first
// (a restricted token cannot change the password), then the password page.
func TestSecondStepComesBeforeAPasswordChange(t *testing.T) {
	e := newMFAPagesEnv(t, "")
	u := e.addUser("mo", "mo-password-1", "user")
	tok, _ := e.login("mo", "mo-password-1")
	secret, _ := e.enrolTOTP(tok)
	u.MustChangePassword = true
	if err := e.st.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	b := newTab(e.testEnv)
	r := b.signIn("/auth/ui/sign-in", "mo", "mo-password-1", "/api/x")
	if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/auth/ui/mfa?") {
		t.Fatalf("sign-in: %d %q", r.status, r.header.Get("Location"))
	}
	if r := b.navigate("/auth/ui/password"); r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/auth/ui/mfa?") {
		t.Errorf("password page before the second step: %d %q", r.status, r.header.Get("Location"))
	}
	page := b.navigate(r.header.Get("Location"))
	r = b.post("/auth/ui/mfa", "csrf", b.csrf(page), "method", "totp", "code", code(t, secret, e.clk.now()), "return_to", "/api/x")
	if r.status != 303 || r.header.Get("Location") != "/api/x" {
		t.Fatalf("second step: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	if r := b.navigate("/api/x"); r.status != 302 || !strings.HasPrefix(r.header.Get("Location"), "/auth/ui/password?") {
		t.Errorf("after the second step, the password change: %d %q", r.status, r.header.Get("Location"))
	}
	page = b.navigate("/auth/ui/password?return_to=%2Fapi%2Fx")
	r = b.post("/auth/ui/password", "csrf", b.csrf(page), "current_password", "mo-password-1", "new_password", "mo-password-2", "return_to", "/api/x")
	if r.status != 303 || r.header.Get("Location") != "/api/x" {
		t.Fatalf("password change: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	if r := b.navigate("/api/x"); r.status != 200 || upstreamHeaders(t, r).Get("X-User-Name") != "mo" {
		t.Errorf("after both: %d %s", r.status, r.body)
	}
}
