package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"authgate/account"
	"authgate/auth"
	"authgate/store"
)

// ProblemType is one kind of problem: a stable type URI, a title and the
// HTTP status it is answered with. docs/errors.md (the error catalogue) lists them.
type ProblemType struct {
	Slug   string
	Title  string
	Status int
}

// URI is the stable `type` of the problem document.
func (p ProblemType) URI() string { return "urn:authgate:problem:" + p.Slug }

// The catalogue. Slugs are part of the external contract: never rename one.
var (
	ProblemBadRequest          = ProblemType{"bad-request", "Malformed request", fiber.StatusBadRequest}
	ProblemValidation          = ProblemType{"validation", "Invalid field", fiber.StatusBadRequest}
	ProblemInvalidPath         = ProblemType{"invalid-path", "Invalid request path", fiber.StatusBadRequest}
	ProblemInvalidHost         = ProblemType{"invalid-host", "Invalid Host", fiber.StatusBadRequest}
	ProblemInvalidMethod       = ProblemType{"invalid-method", "Invalid method", fiber.StatusBadRequest}
	ProblemBodyNotAllowed      = ProblemType{"body-not-allowed", "Body not allowed with this method", fiber.StatusBadRequest}
	ProblemPasswordTooLong     = ProblemType{"password-too-long", "Password too long", fiber.StatusBadRequest}
	ProblemWeakPassword        = ProblemType{"weak-password", "Password does not meet the policy", fiber.StatusBadRequest}
	ProblemUsernameTaken       = ProblemType{"username-taken", "Username already taken", fiber.StatusBadRequest}
	ProblemEmailTaken          = ProblemType{"email-taken", "Email already taken", fiber.StatusBadRequest}
	ProblemInvalidOneTimeToken = ProblemType{"invalid-one-time-token", "Invalid or expired token", fiber.StatusBadRequest}
	ProblemInvalidCredentials  = ProblemType{"invalid-credentials", "Invalid username or password", fiber.StatusUnauthorized}
	ProblemUnauthenticated     = ProblemType{"unauthenticated", "Authentication required", fiber.StatusUnauthorized}
	ProblemInvalidToken        = ProblemType{"invalid-token", "Invalid or expired access token", fiber.StatusUnauthorized}
	ProblemInvalidRefresh      = ProblemType{"invalid-refresh-token", "Invalid, expired or reused refresh token", fiber.StatusUnauthorized}
	ProblemForbidden           = ProblemType{"forbidden", "Missing role", fiber.StatusForbidden}
	ProblemDenied              = ProblemType{"denied", "Denied by rule", fiber.StatusForbidden}
	ProblemPasswordChange      = ProblemType{"password-change-required", "Password change required", fiber.StatusForbidden}
	ProblemEmailNotVerified    = ProblemType{"email-not-verified", "Email address not verified", fiber.StatusForbidden}
	ProblemRegistrationOff     = ProblemType{"registration-disabled", "Registration is disabled", fiber.StatusForbidden}
	ProblemNotFound            = ProblemType{"not-found", "Not found", fiber.StatusNotFound}
	ProblemMethodNotAllowed    = ProblemType{"method-not-allowed", "Method not allowed", fiber.StatusMethodNotAllowed}
	ProblemTooLarge            = ProblemType{"payload-too-large", "Request body too large", fiber.StatusRequestEntityTooLarge}
	ProblemHeadersTooLarge     = ProblemType{"headers-too-large", "Request headers too large", fiber.StatusRequestHeaderFieldsTooLarge}
	ProblemRequestTimeout      = ProblemType{"request-timeout", "Request not read in time", fiber.StatusRequestTimeout}
	ProblemUnsupportedMedia    = ProblemType{"unsupported-media-type", "Unsupported content type", fiber.StatusUnsupportedMediaType}
	ProblemRateLimited         = ProblemType{"rate-limited", "Too many requests", fiber.StatusTooManyRequests}
	ProblemLocked              = ProblemType{"account-locked", "Too many failed logins", fiber.StatusTooManyRequests}
	ProblemInternal            = ProblemType{"internal", "Internal error", fiber.StatusInternalServerError}
	ProblemUpstreamUnavailable = ProblemType{"upstream-unavailable", "Upstream unavailable", fiber.StatusBadGateway}
	ProblemStoreUnavailable    = ProblemType{"store-unavailable", "Store unavailable", fiber.StatusServiceUnavailable}
	ProblemOverloaded          = ProblemType{"overloaded", "Too busy, try again", fiber.StatusServiceUnavailable}
	ProblemUpstreamTimeout     = ProblemType{"upstream-timeout", "Upstream timed out", fiber.StatusGatewayTimeout}
	ProblemUpstreamBusy        = ProblemType{"upstream-busy", "Upstream busy", fiber.StatusServiceUnavailable}
	ProblemCrossSite           = ProblemType{"cross-site-request", "Cross-site request refused", fiber.StatusForbidden}
	// ProblemSecondFactorRequired carries the extension member step: what
	// the client must do (StepVerify, StepEnrol, StepUp).
	ProblemSecondFactorRequired = ProblemType{"second-factor-required", "Second factor required", fiber.StatusUnauthorized}

	// Provider sign-in (package provider).
	ProblemOAuthState           = ProblemType{"oauth-state", "Unknown, used or expired sign-in state", fiber.StatusBadRequest}
	ProblemOAuthDenied          = ProblemType{"oauth-denied", "Sign-in refused by the identity provider", fiber.StatusUnauthorized}
	ProblemOAuthCode            = ProblemType{"oauth-code", "Sign-in code refused by the identity provider", fiber.StatusUnauthorized}
	ProblemOAuthToken           = ProblemType{"oauth-invalid-token", "Invalid answer from the identity provider", fiber.StatusUnauthorized}
	ProblemOAuthEmailUnverified = ProblemType{"oauth-email-unverified", "Email not verified by the identity provider", fiber.StatusForbidden}
	ProblemOAuthSignupOff       = ProblemType{"oauth-signup-disabled", "Sign-up through this provider is disabled", fiber.StatusForbidden}
	ProblemAccountDisabled      = ProblemType{"account-disabled", "Account deactivated", fiber.StatusForbidden}
	ProblemAccountExists        = ProblemType{"account-exists", "An account with this email exists", fiber.StatusConflict}
	ProblemProviderUnavailable  = ProblemType{"provider-unavailable", "Identity provider unavailable", fiber.StatusBadGateway}

	// Second factors (package mfa, account/secondfactor.go).
	ProblemSecondFactorInvalid = ProblemType{"second-factor-invalid", "Invalid second factor", fiber.StatusUnauthorized}
	ProblemFreshSecondFactor   = ProblemType{"fresh-second-factor-required", "A recent second factor is required", fiber.StatusForbidden}
	ProblemNotEnrolled         = ProblemType{"second-factor-not-enrolled", "No such second factor", fiber.StatusConflict}
)

// Catalogue lists every problem type, for docs/errors.md and its test.
var Catalogue = []ProblemType{
	ProblemBadRequest, ProblemValidation, ProblemInvalidPath, ProblemInvalidHost, ProblemInvalidMethod,
	ProblemBodyNotAllowed, ProblemPasswordTooLong,
	ProblemWeakPassword, ProblemUsernameTaken, ProblemEmailTaken, ProblemInvalidOneTimeToken,
	ProblemInvalidCredentials, ProblemUnauthenticated, ProblemInvalidToken, ProblemInvalidRefresh,
	ProblemForbidden, ProblemDenied, ProblemPasswordChange, ProblemEmailNotVerified,
	ProblemRegistrationOff, ProblemNotFound, ProblemMethodNotAllowed, ProblemTooLarge, ProblemHeadersTooLarge, ProblemRequestTimeout,
	ProblemUnsupportedMedia, ProblemRateLimited, ProblemLocked, ProblemInternal,
	ProblemUpstreamUnavailable, ProblemStoreUnavailable, ProblemOverloaded, ProblemUpstreamTimeout, ProblemUpstreamBusy, ProblemCrossSite,
	ProblemSecondFactorRequired,
	ProblemOAuthState, ProblemOAuthDenied, ProblemOAuthCode, ProblemOAuthToken, ProblemOAuthEmailUnverified,
	ProblemOAuthSignupOff, ProblemAccountDisabled, ProblemAccountExists, ProblemProviderUnavailable,
	ProblemSecondFactorInvalid, ProblemFreshSecondFactor, ProblemNotEnrolled,
}

// Problem is an error that is answered as an RFC 9457 problem document.
type Problem struct {
	Type   ProblemType
	Detail string
	// Field names the offending request field for validation problems.
	Field string
	// RetryAfter, in seconds, is sent as Retry-After when > 0.
	RetryAfter int
	// Step is the extension member "step" of second-factor-required.
	Step string
	// Err is the underlying cause, logged but never sent.
	Err error
}

func (p *Problem) Error() string {
	if p.Err != nil {
		return p.Type.Slug + ": " + p.Detail + ": " + p.Err.Error()
	}
	return p.Type.Slug + ": " + p.Detail
}

func (p *Problem) Unwrap() error { return p.Err }

// problem builds a *Problem; handlers return it and the error handler writes it.
func problem(t ProblemType, detail string) *Problem { return &Problem{Type: t, Detail: detail} }

// fieldProblem is a 400 naming the request field at fault.
func fieldProblem(field, detail string) *Problem {
	return &Problem{Type: ProblemValidation, Field: field, Detail: field + ": " + detail}
}

// problemDoc is the wire form.
type problemDoc struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance"`
	Field    string `json:"field,omitempty"`
	Step     string `json:"step,omitempty"`
}

// writeProblem replaces whatever the response held with the problem document.
func writeProblem(c *fiber.Ctx, p *Problem) error {
	writeProblemTo(c.Response(), p, string(c.Request().URI().PathOriginal()))
	return nil
}

// writeProblemTo writes the problem document about the request path
// instance into resp: the Fiber ctx's response, or a fast-path loop's answer
// (forward-auth).
func writeProblemTo(resp *fasthttp.Response, p *Problem, instance string) {
	// Drop whatever body and content headers a handler began; keep the
	// headers that explain the problem (Allow, RateLimit-*, X-Request-Id,
	// cleared cookies).
	resp.ResetBody()
	resp.Header.Del(fiber.HeaderContentEncoding)
	resp.Header.Del(fiber.HeaderContentDisposition)
	if p.RetryAfter > 0 {
		resp.Header.Set(fiber.HeaderRetryAfter, strconv.Itoa(p.RetryAfter))
	}
	if p.Type.Status == fiber.StatusUnauthorized {
		resp.Header.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="authgate"`)
	}
	body := problemJSON(p, instance)
	resp.SetStatusCode(p.Type.Status)
	resp.Header.Set(fiber.HeaderContentType, "application/problem+json")
	resp.Header.Set(fiber.HeaderCacheControl, "no-store")
	resp.SetBodyRaw(body)
}

// problemJSON is the problem document of p about the request path instance.
func problemJSON(p *Problem, instance string) []byte {
	body, err := json.Marshal(problemDoc{
		Type:     p.Type.URI(),
		Title:    p.Type.Title,
		Status:   p.Type.Status,
		Detail:   p.Detail,
		Instance: instance,
		Field:    p.Field,
		Step:     p.Step,
	})
	if err != nil { // cannot happen with these field types
		body = []byte(`{"type":"urn:authgate:problem:internal","title":"Internal error","status":500}`)
	}
	return body
}

// asProblem maps any error returned by a handler or middleware to a problem.
func asProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if e, ok := account.AsError(err); ok {
		return accountProblem(e)
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			return problem(ProblemNotFound, "no such route")
		case fiber.StatusMethodNotAllowed:
			return problem(ProblemMethodNotAllowed, "method not allowed on this route")
		case fiber.StatusRequestEntityTooLarge:
			return problem(ProblemTooLarge, "request body too large")
		case fiber.StatusRequestHeaderFieldsTooLarge:
			return problem(ProblemHeadersTooLarge, "request headers too large")
		case fiber.StatusRequestTimeout:
			return problem(ProblemRequestTimeout, "the request was not read in time")
		}
		if fe.Code < 500 {
			// fasthttp's parse errors quote the request bytes (headers,
			// tokens): never reflect them.
			return problem(ProblemBadRequest, "malformed HTTP request")
		}
	}
	if errors.Is(err, auth.ErrOverloaded) {
		// Before the store check: it also wraps context.DeadlineExceeded.
		return &Problem{Type: ProblemOverloaded, Detail: "too many passwords are being checked at once; try again shortly", RetryAfter: 1, Err: err}
	}
	if isStoreUnavailable(err) {
		return &Problem{Type: ProblemStoreUnavailable, Detail: "the session store cannot be reached; try again", Err: err}
	}
	return &Problem{Type: ProblemInternal, Detail: "internal error", Err: err}
}

// accountProblems maps package account's refusals to problem types.
var accountProblems = map[account.Kind]ProblemType{
	account.KindValidation:           ProblemValidation,
	account.KindWeakPassword:         ProblemWeakPassword,
	account.KindPasswordTooLong:      ProblemPasswordTooLong,
	account.KindUsernameTaken:        ProblemUsernameTaken,
	account.KindEmailTaken:           ProblemEmailTaken,
	account.KindInvalidOneTime:       ProblemInvalidOneTimeToken,
	account.KindInvalidCredentials:   ProblemInvalidCredentials,
	account.KindInvalidToken:         ProblemInvalidToken,
	account.KindInvalidRefresh:       ProblemInvalidRefresh,
	account.KindForbidden:            ProblemForbidden,
	account.KindPasswordChange:       ProblemPasswordChange,
	account.KindEmailNotVerified:     ProblemEmailNotVerified,
	account.KindRegistrationOff:      ProblemRegistrationOff,
	account.KindNotFound:             ProblemNotFound,
	account.KindRateLimited:          ProblemRateLimited,
	account.KindLocked:               ProblemLocked,
	account.KindSecondFactorInvalid:  ProblemSecondFactorInvalid,
	account.KindFreshSecondFactor:    ProblemFreshSecondFactor,
	account.KindNotEnrolled:          ProblemNotEnrolled,
	account.KindSecondFactorRequired: ProblemSecondFactorRequired,
}

// accountProblem is the problem document of a refusal. Only validation
// problems name a field, as they always have.
func accountProblem(e *account.Error) *Problem {
	t, ok := accountProblems[e.Kind]
	if !ok {
		return &Problem{Type: ProblemInternal, Detail: "internal error", Err: e}
	}
	p := &Problem{Type: t, Detail: e.Detail, RetryAfter: e.RetryAfter}
	switch e.Kind {
	case account.KindValidation, account.KindWeakPassword, account.KindUsernameTaken, account.KindEmailTaken:
		p.Field = e.Field
	case account.KindSecondFactorRequired: // a restricted token, second step pending
		p.Step = StepVerify
	}
	return p
}

// unavailable marks err as a store/limiter outage (answered with 503).
func unavailable(err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	return errors.Join(store.ErrUnavailable, err)
}

func isStoreUnavailable(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
