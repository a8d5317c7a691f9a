package pages

import (
	"html/template"
	"strings"
	"testing"
)

// Every state of the second-factor pages renders, shows what it must and
// never an inline script.
func TestSecondFactorPagesRenderEveryState(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	routes := MFARoutes{LoginBegin: "/auth/mfa/passkeys/login/begin", LoginFinish: "/auth/mfa/passkeys/login/finish",
		AddBegin: "/auth/mfa/passkeys/begin", AddFinish: "/auth/mfa/passkeys/finish"}
	setup := &TOTPSetup{Secret: "JBSWY3DPEHPK3PXP", QR: template.URL("data:image/png;base64,iVBORw0KGgo=")}
	for _, c := range []struct {
		name, page string
		m          MFAView
		want, not  []string
	}{
		{"verify with totp", PageMFA, MFAView{HasTOTP: true, Continue: "/app"},
			[]string{`name="code"`, `value="totp"`, "Use a recovery code"}, []string{"Use a passkey", "<img"}},
		{"verify with a passkey", PageMFA, MFAView{HasPasskeys: true, PasskeysOn: true, Continue: "/app", Script: "/auth/ui/passkey.js"},
			[]string{"Use a passkey", `data-finish="/auth/mfa/passkeys/login/finish"`, `data-return="/app"`, `<script src="/auth/ui/passkey.js">`},
			[]string{`name="code" type`}},
		{"must enrol", PageMFA, MFAView{Enrol: true, Must: true, PasskeysOn: true},
			[]string{"needs a second factor", "Set up an authenticator app", "Add a passkey"}, nil},
		{"enrolment begun", PageMFA, MFAView{Enrol: true, TOTP: setup},
			[]string{`src="data:image/png;base64,iVBORw0KGgo="`, "JBSWY3DPEHPK3PXP", `value="totp-confirm"`}, nil},
		{"codes", PageMFA, MFAView{Codes: []string{"aaaa-bbbb-cccc", "dddd-eeee-ffff"}, Continue: "/app"},
			[]string{"<code>aaaa-bbbb-cccc</code>", `href="/app"`, "not shown again"}, []string{`name="code"`}},
		{"security, nothing", PageSecurity, MFAView{PasskeysOn: true},
			[]string{"Off.", "Set up an authenticator app", "Add a passkey"}, []string{"<h2>Recovery codes"}},
		{"security, everything", PageSecurity, MFAView{HasTOTP: true, HasPasskeys: true, PasskeysOn: true, RecoveryLeft: 7,
			Passkeys: []PasskeyView{{ID: "pk1", Name: "Laptop <1>", Added: "1 Dec 2026"}}},
			[]string{"On.", "Laptop &lt;1&gt;", `value="pk1"`, "7 left", `value="recovery-regenerate"`, `value="totp-remove"`}, nil},
		{"security, step-up", PageSecurity, MFAView{HasTOTP: true, StepUp: "/auth/ui/mfa?return_to=%2Fauth%2Fui%2Fsecurity"},
			[]string{`id="step-up"`}, nil},
	} {
		m := c.m
		m.Routes = routes
		b, err := tpl.Render(c.page, &View{Title: "t", CSRF: "tok", Action: "/auth/ui/" + c.page, MFA: &m})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		html := string(b)
		for _, w := range c.want {
			if !strings.Contains(html, w) {
				t.Errorf("%s: no %q in\n%s", c.name, w, html)
			}
		}
		for _, n := range c.not {
			if strings.Contains(html, n) {
				t.Errorf("%s: %q in\n%s", c.name, n, html)
			}
		}
		if strings.Contains(html, "<script>") || strings.Contains(html, " onclick=") {
			t.Errorf("%s: an inline script", c.name)
		}
	}
}
