package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/account"
	"authgate/auth"
	"authgate/mfa"
)

// The JSON routes of second factors (docs/second-factors.md), under
// routes.mfa, and the admin reset DELETE <users>/{id}/mfa. Like the other
// account routes they are thin: decode, call package account, answer. Who
// may do what (a restricted token may only finish the second step or, for
// an account that must enrol, set a factor up; removing one needs a recent
// second factor) is package account's decision.

// mfaRoutes adds the routes when mfa.enabled.
func (g *Gateway) mfaRoutes(t *routeTable) {
	if !g.cfg.MFA.Enabled {
		return
	}
	b := strings.TrimSuffix(g.cfg.Routes.MFA, "/")
	t.add(b, "mfa_status", map[string]handler{"GET": g.mfaStatus})
	t.add(b+"/verify", "mfa_verify", map[string]handler{"POST": g.mfaVerify})
	t.add(b+"/totp", "mfa_totp", map[string]handler{"POST": g.mfaBeginTOTP, "DELETE": g.mfaRemoveTOTP})
	t.add(b+"/totp/confirm", "mfa_totp_confirm", map[string]handler{"POST": g.mfaConfirmTOTP})
	t.add(b+"/recovery-codes", "mfa_recovery_codes", map[string]handler{"POST": g.mfaRegenerate})
	t.add(b+"/passkeys", "mfa_passkeys", map[string]handler{"GET": g.mfaListPasskeys})
	t.add(b+"/passkeys/begin", "mfa_passkey_begin", map[string]handler{"POST": g.mfaBeginPasskey})
	t.add(b+"/passkeys/finish", "mfa_passkey_finish", map[string]handler{"POST": g.mfaFinishPasskey})
	t.add(b+"/passkeys/login/begin", "mfa_passkey_login_begin", map[string]handler{"POST": g.mfaBeginPasskeyLogin})
	t.add(b+"/passkeys/login/finish", "mfa_passkey_login_finish", map[string]handler{"POST": g.mfaFinishPasskeyLogin})
	t.addSegment(b+"/passkeys/", "", "mfa_passkey", map[string]handler{"DELETE": g.mfaRemovePasskey})
	t.addSegment(strings.TrimSuffix(g.cfg.Routes.Users, "/")+"/", "/mfa", "user_mfa", map[string]handler{"DELETE": g.mfaReset})
}

// mfaClaims authenticates a second-factor route: a restricted token
// (second step pending, enrolment required) is accepted, and package
// account decides what it may do. So is a must-change token: with a
// second factor, the second step comes before the password change.
func (g *Gateway) mfaClaims(rq *request) (*auth.Claims, error) {
	return g.authenticateStep(rq)
}

type passkeyResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	AddedAt    time.Time  `json:"added_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

type mfaStatusResponse struct {
	TOTP              bool              `json:"totp"`
	Passkeys          []passkeyResponse `json:"passkeys"`
	RecoveryCodesLeft int               `json:"recovery_codes_left"`
	PasskeysEnabled   bool              `json:"passkeys_enabled"`
	// Step is the token's: "verify", "enrol" or "" (a full token).
	Step string `json:"step"`
}

// mfaStatus is GET <mfa>: what the account has.
func (g *Gateway) mfaStatus(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	st, err := g.acct.SecondFactorStatus(ctx, claims)
	if err != nil {
		return err
	}
	out := mfaStatusResponse{TOTP: st.TOTP, RecoveryCodesLeft: st.RecoveryCodes, Passkeys: passkeysFrom(st.Passkeys),
		PasskeysEnabled: g.cfg.MFA.PasskeysOn(), Step: claims.Step}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

func passkeysFrom(ks []mfa.PasskeyInfo) []passkeyResponse {
	out := make([]passkeyResponse, 0, len(ks))
	for _, k := range ks {
		r := passkeyResponse{ID: k.ID, Name: k.Name, AddedAt: k.AddedAt}
		if !k.LastUsedAt.IsZero() {
			t := k.LastUsedAt
			r.LastUsedAt = &t
		}
		out = append(out, r)
	}
	return out
}

type verifyRequest struct {
	Method string `json:"method"`
	Code   string `json:"code"`
}

// mfaVerify is POST <mfa>/verify {"method": "totp"|"recovery_code",
// "code"}: the second step (or a step-up). It answers a new token pair.
func (g *Gateway) mfaVerify(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	var in verifyRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	switch in.Method {
	case mfa.MethodTOTP, mfa.MethodRecoveryCode:
	default:
		return fieldProblem("method", `must be "totp" or "recovery_code" (a passkey uses `+g.cfg.Routes.MFA+"/passkeys/login/begin)")
	}
	if in.Code == "" {
		return fieldProblem("code", "is required")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	pair, err := g.acct.SecondFactor(ctx, claims, mfa.Proof{Method: in.Method, Code: in.Code}, g.client(c, rq))
	if err != nil {
		return err
	}
	return g.sendPair(c, pair)
}

type totpBeginResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRPNG      string `json:"qr_png"` // base64 (standard) of a PNG
}

// mfaBeginTOTP is POST <mfa>/totp: a new secret, pending until its first
// code confirms it.
func (g *Gateway) mfaBeginTOTP(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	en, err := g.acct.BeginTOTP(ctx, claims)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(totpBeginResponse{Secret: en.Secret, OTPAuthURL: en.URL, QRPNG: base64.StdEncoding.EncodeToString(en.QRPNG)})
}

type codeRequest struct {
	Code string `json:"code"`
}

// enrolledResponse answers an enrolment: the recovery codes when it was
// the account's first factor, and a token pair when it ended an enrolment
// the sign-in required.
type enrolledResponse struct {
	Status        string   `json:"status"`
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
	*tokenResponse
}

func (g *Gateway) sendEnrolled(c *fiber.Ctx, status int, res account.Enrolment) error {
	out := enrolledResponse{Status: "enrolled", RecoveryCodes: res.RecoveryCodes}
	if res.Pair != nil {
		if g.cfg.Transport.Cookies.Enabled {
			g.SetSession(c, *res.Pair)
		}
		out.tokenResponse = &tokenResponse{AccessToken: res.Pair.AccessToken, TokenType: "Bearer",
			ExpiresIn: res.Pair.ExpiresIn, RefreshToken: res.Pair.RefreshToken}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(out)
}

// mfaConfirmTOTP is POST <mfa>/totp/confirm {"code"}.
func (g *Gateway) mfaConfirmTOTP(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	var in codeRequest
	if err := g.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Code == "" {
		return fieldProblem("code", "is required")
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	res, err := g.acct.ConfirmTOTP(ctx, claims, in.Code, g.client(c, rq))
	if err != nil {
		return err
	}
	return g.sendEnrolled(c, fiber.StatusOK, res)
}

// mfaRemoveTOTP is DELETE <mfa>/totp.
func (g *Gateway) mfaRemoveTOTP(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.acct.RemoveTOTP(ctx, claims); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// mfaRegenerate is POST <mfa>/recovery-codes: new codes, the old ones void.
func (g *Gateway) mfaRegenerate(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	codes, err := g.acct.RegenerateRecoveryCodes(ctx, claims)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(recoveryCodesResponse{RecoveryCodes: codes})
}

// mfaListPasskeys is GET <mfa>/passkeys.
func (g *Gateway) mfaListPasskeys(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	st, err := g.acct.SecondFactorStatus(ctx, claims)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"passkeys": passkeysFrom(st.Passkeys)})
}

// passkeysOn refuses the passkey routes when no origin is configured.
func (g *Gateway) passkeysOn() error {
	if !g.cfg.MFA.PasskeysOn() {
		return problem(ProblemNotFound, "passkeys are not configured (mfa.webauthn.origins)")
	}
	return nil
}

// sendOptions answers a ceremony's options (WebAuthn JSON).
func sendOptions(c *fiber.Ctx, opts any) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(opts)
}

// credentialBody is the browser's credential (PublicKeyCredential as
// JSON), handed to package mfa as it came.
func (g *Gateway) credentialBody(c *fiber.Ctx) ([]byte, error) {
	var raw json.RawMessage
	if err := g.decodeJSON(c, &raw); err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, problem(ProblemBadRequest, "send the credential as a JSON object")
	}
	return raw, nil
}

// mfaBeginPasskey is POST <mfa>/passkeys/begin: the options of
// navigator.credentials.create.
func (g *Gateway) mfaBeginPasskey(c *fiber.Ctx, rq *request) error {
	return g.passkeyOptions(c, rq, g.acct.BeginPasskey)
}

// mfaFinishPasskey is POST <mfa>/passkeys/finish?name=: the browser's new
// credential.
func (g *Gateway) mfaFinishPasskey(c *fiber.Ctx, rq *request) error {
	claims, body, err := g.passkeyAnswer(c, rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	res, err := g.acct.FinishPasskey(ctx, claims, c.Query("name"), body, g.client(c, rq))
	if err != nil {
		return err
	}
	return g.sendEnrolled(c, fiber.StatusCreated, res)
}

// mfaRemovePasskey is DELETE <mfa>/passkeys/{id}.
func (g *Gateway) mfaRemovePasskey(c *fiber.Ctx, rq *request) error {
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.acct.RemovePasskey(ctx, claims, targetID(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// mfaBeginPasskeyLogin is POST <mfa>/passkeys/login/begin: the options of
// navigator.credentials.get for the second step.
func (g *Gateway) mfaBeginPasskeyLogin(c *fiber.Ctx, rq *request) error {
	return g.passkeyOptions(c, rq, g.acct.BeginPasskeyLogin)
}

// mfaFinishPasskeyLogin is POST <mfa>/passkeys/login/finish: the browser's
// assertion; a new token pair.
func (g *Gateway) mfaFinishPasskeyLogin(c *fiber.Ctx, rq *request) error {
	claims, body, err := g.passkeyAnswer(c, rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	pair, err := g.acct.SecondFactor(ctx, claims, mfa.Proof{Method: mfa.MethodPasskey, Credential: body}, g.client(c, rq))
	if err != nil {
		return err
	}
	return g.sendPair(c, pair)
}

// passkeyOptions answers the begin of a passkey ceremony with the options
// begin (account's BeginPasskey or BeginPasskeyLogin) makes for the
// token's user.
func (g *Gateway) passkeyOptions(c *fiber.Ctx, rq *request, begin func(context.Context, *auth.Claims) (json.RawMessage, error)) error {
	if err := g.passkeysOn(); err != nil {
		return err
	}
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	opts, err := begin(ctx, claims)
	if err != nil {
		return err
	}
	return sendOptions(c, opts)
}

// passkeyAnswer is what the finish of a passkey ceremony needs: the
// token's claims and the browser's credential.
func (g *Gateway) passkeyAnswer(c *fiber.Ctx, rq *request) (*auth.Claims, []byte, error) {
	if err := g.passkeysOn(); err != nil {
		return nil, nil, err
	}
	claims, err := g.mfaClaims(rq)
	if err != nil {
		return nil, nil, err
	}
	body, err := g.credentialBody(c)
	if err != nil {
		return nil, nil, err
	}
	return claims, body, nil
}

// mfaReset is DELETE <users>/{id}/mfa: an admin removes every second
// factor of a user and ends their sessions.
func (g *Gateway) mfaReset(c *fiber.Ctx, rq *request) error {
	claims, err := g.authorizeAdmin(rq)
	if err != nil {
		return err
	}
	ctx, cancel := g.storeCtx(c)
	defer cancel()
	if err := g.acct.ResetSecondFactors(ctx, claims, targetID(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
