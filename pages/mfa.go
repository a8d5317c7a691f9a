package pages

import (
	"encoding/base64"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/account"
	"authgate/auth"
	"authgate/mfa"
)

// The second-factor pages: <path>/mfa, the second step of a sign-in (a
// code, a recovery code or a passkey; setting a factor up instead when the
// account must have one first) and the step-up a rule with mfa: required
// or max_age sends a browser to; and <path>/security, where a signed-in
// person manages their factors. The flows are package account's, as for
// every page; the passkey ceremonies run in the browser (static/passkey.js)
// against the JSON routes under routes.mfa.

// MFAView is what the second-factor templates see.
type MFAView struct {
	// Enrol: the person sets up a factor here (their account has none).
	Enrol bool
	// Must: the account must have a second factor before anything else
	// (mfa.required_roles).
	Must bool
	// TOTP is an enrolment begun: the QR code and key to type in.
	TOTP *TOTPSetup
	// Codes are recovery codes to write down: shown once.
	Codes []string
	// What the account has.
	HasTOTP, HasPasskeys bool
	RecoveryLeft         int
	Passkeys             []PasskeyView
	// PasskeysOn: passkeys are configured (mfa.webauthn.origins).
	PasskeysOn bool
	// Continue is where to go when done (the checked return address; ""
	// on the security page: stay).
	Continue string
	// StepUp is the second-step page that returns here, shown when an
	// action needs a recent second factor.
	StepUp string
	Script string
	Routes MFARoutes
}

// TOTPSetup is a TOTP enrolment shown to the person.
type TOTPSetup struct {
	Secret string
	QR     template.URL // data:image/png;base64,…
}

// PasskeyView is one registered passkey.
type PasskeyView struct {
	ID, Name, Added, Used string
}

// MFARoutes are the JSON routes the passkey script posts to.
type MFARoutes struct {
	LoginBegin, LoginFinish, AddBegin, AddFinish string
}

// PageMFAScript is the passkey script below browser.path.
const PageMFAScript = "passkey.js"

func (p *Pages) mfaOn() bool { return p.cfg.MFA.Enabled }

func (p *Pages) mfaView(ret string) *MFAView {
	base := strings.TrimSuffix(p.cfg.Routes.MFA, "/")
	return &MFAView{
		PasskeysOn: p.cfg.MFA.PasskeysOn(),
		Continue:   ret,
		Script:     p.Path(PageMFAScript),
		Routes: MFARoutes{
			LoginBegin: base + "/passkeys/login/begin", LoginFinish: base + "/passkeys/login/finish",
			AddBegin: base + "/passkeys/begin", AddFinish: base + "/passkeys/finish",
		},
	}
}

// status fills in what the account has.
func (p *Pages) status(c *fiber.Ctx, m *MFAView, claims *auth.Claims) error {
	ctx, cancel := p.ctx(c)
	defer cancel()
	st, err := p.acct.SecondFactorStatus(ctx, claims)
	if err != nil {
		return err
	}
	m.HasTOTP, m.RecoveryLeft = st.TOTP, st.RecoveryCodes
	m.HasPasskeys = len(st.Passkeys) > 0
	for _, k := range st.Passkeys {
		v := PasskeyView{ID: k.ID, Name: k.Name, Added: day(k.AddedAt)}
		if !k.LastUsedAt.IsZero() {
			v.Used = day(k.LastUsedAt)
		}
		m.Passkeys = append(m.Passkeys, v)
	}
	return nil
}

func day(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

// secondStep is <path>/mfa.
func (p *Pages) secondStep(c *fiber.Ctx, v *View, r Request) error {
	if !p.mfaOn() {
		return p.notFound(c, v)
	}
	if r.Claims == nil {
		return see(c, p.SignInURL(p.MFAURL(v.Return)))
	}
	// A must-change password comes after the second step (the password
	// page sends a restricted session here).
	ret := p.ret.Resolve(v.Return)
	m := p.mfaView(ret)
	v.MFA = m
	if err := p.status(c, m, r.Claims); err != nil {
		return p.failed(c, v, err)
	}
	m.Must = r.Claims.Step == auth.StepEnrol
	m.Enrol = m.Must || (!m.HasTOTP && !m.HasPasskeys)
	if m.Enrol {
		v.Title = "Set up a second factor"
	}
	if c.Method() != fiber.MethodPost {
		return p.render(c, fiber.StatusOK, PageMFA, v)
	}
	f := form(c)
	ctx, cancel := p.ctx(c)
	defer cancel()
	cl := account.Client{IP: r.ClientIP}
	if m.Enrol {
		switch f.Get("action") {
		case "totp-begin":
			return p.beginTOTP(c, v, r, PageMFA)
		case "totp-confirm":
			res, err := p.acct.ConfirmTOTP(ctx, r.Claims, f.Get("code"), cl)
			if err != nil {
				status, _ := p.refused(c, v, err, "code")
				return p.render(c, status, PageMFA, v)
			}
			if res.Pair != nil {
				p.host.SetSession(c, *res.Pair)
				p.newCSRF(c, v)
			}
			if len(res.RecoveryCodes) == 0 {
				return see(c, ret)
			}
			m.Codes, v.Title = res.RecoveryCodes, "Second factor set up"
			return p.render(c, fiber.StatusOK, PageMFA, v)
		}
		v.Error = "Choose how to set up your second factor."
		return p.render(c, fiber.StatusBadRequest, PageMFA, v)
	}
	proof := mfa.Proof{Method: f.Get("method")}
	field := "code"
	switch proof.Method {
	case mfa.MethodTOTP:
		proof.Code = f.Get("code")
	case mfa.MethodRecoveryCode:
		proof.Code, field = f.Get("recovery_code"), "recovery_code"
	default:
		v.Error = "Enter a code from your authenticator app or a recovery code."
		return p.render(c, fiber.StatusBadRequest, PageMFA, v)
	}
	pair, err := p.acct.SecondFactor(ctx, r.Claims, proof, cl)
	if err != nil {
		status, _ := p.refused(c, v, err, field)
		if e, ok := account.AsError(err); ok && e.Kind == account.KindSecondFactorInvalid && e.RetryAfter == 0 {
			v.errors = nil
			v.fieldError(field, "This code is not valid. Check it and try again.")
		}
		return p.render(c, status, PageMFA, v)
	}
	// A new session (the account ended the restricted one), and a new
	// form token with it.
	p.host.SetSession(c, pair)
	p.newCSRF(c, v)
	return see(c, ret)
}

// beginTOTP starts a TOTP enrolment and shows its QR code and key.
func (p *Pages) beginTOTP(c *fiber.Ctx, v *View, r Request, page string) error {
	ctx, cancel := p.ctx(c)
	defer cancel()
	en, err := p.acct.BeginTOTP(ctx, r.Claims)
	if err != nil {
		status, _ := p.refused(c, v, err)
		return p.render(c, status, page, v)
	}
	v.MFA.TOTP = &TOTPSetup{Secret: en.Secret, QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG))}
	return p.render(c, fiber.StatusOK, page, v)
}

// security is <path>/security: the account's second factors.
func (p *Pages) security(c *fiber.Ctx, v *View, r Request) error {
	if !p.mfaOn() {
		return p.notFound(c, v)
	}
	self := p.Path(PageSecurity)
	if r.Claims == nil {
		return see(c, p.SignInURL(self))
	}
	if r.Claims.PasswordChange {
		return see(c, p.PasswordURL(self))
	}
	if r.Claims.Step != "" {
		return see(c, p.MFAURL(self))
	}
	if v.Return == "" {
		v.Return = p.ret.Resolve("")
	}
	m := p.mfaView("")
	v.MFA = m
	status := fiber.StatusOK
	if c.Method() == fiber.MethodPost {
		status = p.securityAction(c, v, r)
	}
	// What the account has now, after the action.
	if err := p.status(c, m, r.Claims); err != nil {
		return p.failed(c, v, err)
	}
	return p.render(c, status, PageSecurity, v)
}

// securityAction runs a form of the security page and returns the status
// to render the page with.
func (p *Pages) securityAction(c *fiber.Ctx, v *View, r Request) int {
	f := form(c)
	ctx, cancel := p.ctx(c)
	defer cancel()
	cl := account.Client{IP: r.ClientIP}
	m := v.MFA
	var err error
	switch f.Get("action") {
	case "totp-begin":
		en, berr := p.acct.BeginTOTP(ctx, r.Claims)
		if berr == nil {
			m.TOTP = &TOTPSetup{Secret: en.Secret, QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG))}
			return fiber.StatusOK
		}
		err = berr
	case "totp-confirm":
		res, cerr := p.acct.ConfirmTOTP(ctx, r.Claims, f.Get("code"), cl)
		if cerr == nil {
			if res.Pair != nil {
				p.host.SetSession(c, *res.Pair)
				p.newCSRF(c, v)
			}
			v.Info = "The authenticator app is set up."
			m.Codes = res.RecoveryCodes
			return fiber.StatusOK
		}
		err = cerr
		if e, ok := account.AsError(err); ok && e.Kind == account.KindSecondFactorInvalid {
			// Keep the confirm form: the enrolment is still pending.
			m.TOTP = &TOTPSetup{}
			status, _ := p.refused(c, v, err, "code")
			v.errors = nil
			v.fieldError("code", "This code is not valid. Check the app and try again.")
			return status
		}
	case "totp-remove":
		err = p.acct.RemoveTOTP(ctx, r.Claims)
		if err == nil {
			v.Info = "The authenticator app is removed."
			return fiber.StatusOK
		}
	case "passkey-remove":
		err = p.acct.RemovePasskey(ctx, r.Claims, f.Get("id"))
		if err == nil {
			v.Info = "The passkey is removed."
			return fiber.StatusOK
		}
	case "recovery-regenerate":
		codes, rerr := p.acct.RegenerateRecoveryCodes(ctx, r.Claims)
		if rerr == nil {
			m.Codes = codes
			v.Info = "New recovery codes are made; the old ones no longer work."
			return fiber.StatusOK
		}
		err = rerr
	default:
		v.Error = "Unknown action."
		return fiber.StatusBadRequest
	}
	status, _ := p.refused(c, v, err, "code")
	if e, ok := account.AsError(err); ok && e.Kind == account.KindFreshSecondFactor {
		v.Error = "For this, confirm it is you with your second factor first."
		m.StepUp = p.MFAURL(p.Path(PageSecurity))
	}
	return status
}

// notFound answers a page that is not served (second factors are off).
func (p *Pages) notFound(c *fiber.Ctx, v *View) error {
	v.Title, v.Error = "Not found", "There is no such page."
	return p.render(c, fiber.StatusNotFound, PageMessage, v)
}

// failed shows an outage (or an unexpected refusal) instead of the page.
func (p *Pages) failed(c *fiber.Ctx, v *View, err error) error {
	status, _ := p.refused(c, v, err)
	v.MFA, v.Title = nil, titles[PageMessage]
	return p.render(c, status, PageMessage, v)
}
