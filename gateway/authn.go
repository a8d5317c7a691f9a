package gateway

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"authgate/auth"
	"authgate/gateway/rules"
)

// bearer returns the access token of the request: the Authorization Bearer
// header (when transport.bearer), else the access cookie (when cookies are
// enabled). Never the query string.
//
// The string shares the request's header buffer, which fasthttp reuses for
// the next request on the connection: it is valid only while this request
// is answered and must not be kept (Verifier.Authenticate copies the tokens
// it caches). Copying it would cost an allocation of the token's size on
// every authenticated request.
func (g *Gateway) bearer(hdr *fasthttp.RequestHeader) string {
	if g.cfg.Transport.Bearer == nil || *g.cfg.Transport.Bearer {
		h := hdr.Peek(fiber.HeaderAuthorization)
		if len(h) > 7 && strings.EqualFold(utils.UnsafeString(h[:7]), "bearer ") {
			return strings.TrimSpace(utils.UnsafeString(h[7:]))
		}
	}
	if g.cfg.Transport.Cookies.Enabled {
		if v := hdr.Cookie(g.jar(hdr).access); len(v) > 0 {
			return utils.UnsafeString(v)
		}
	}
	return ""
}

// authenticate verifies the request's access token and refuses a
// restricted one (second step pending or enrolment required): 401
// second-factor-required naming the step. A must-change token passes (see
// authenticateFull).
func (g *Gateway) authenticate(rq *request) (*auth.Claims, error) {
	claims, err := g.authenticateStep(rq)
	if err != nil {
		return nil, err
	}
	if claims.Step != "" {
		return nil, g.secondFactorProblem(claims.Step)
	}
	return claims, nil
}

// authenticateStep verifies the request's access token, restricted or
// not: for the routes a restricted token exists for (the second-factor
// routes, GET /me, logout). Every other caller uses authenticate.
func (g *Gateway) authenticateStep(rq *request) (*auth.Claims, error) {
	tok := g.bearer(rq.hdr)
	if tok == "" {
		return nil, problem(ProblemUnauthenticated, "send an access token as Authorization: Bearer")
	}
	var span trace.Span
	if rq.trace != nil {
		span = g.startTokenCheck(rq)
	}
	claims, err := g.verifier.Authenticate(tok, g.now())
	if span != nil {
		endTokenCheck(span, claims, err)
	}
	if errors.Is(err, auth.ErrNotInStep) {
		return nil, &Problem{Type: ProblemStoreUnavailable, Detail: "this instance is catching up with the session store; try again", RetryAfter: 1, Err: err}
	}
	if err != nil {
		detail := "the access token is invalid"
		switch {
		case errors.Is(err, auth.ErrTokenExpired):
			detail = "the access token has expired"
		case errors.Is(err, auth.ErrTokenRevoked):
			detail = "the access token's session has ended"
		}
		return nil, problem(ProblemInvalidToken, detail)
	}
	if claims.External && rq.own {
		// A service's token has no authgate session or account: it is for
		// proxied and forward-auth requests only.
		return nil, problem(ProblemInvalidToken, "a token of an external issuer is not accepted on this route")
	}
	rq.user = claims.Subject
	return claims, nil
}

// authenticateToEnd is authenticateStep for ending sessions (logout): an
// instance that is not in step with the revocation feed still lets a valid
// token end its session, since that grants nothing.
func (g *Gateway) authenticateToEnd(rq *request) (*auth.Claims, error) {
	claims, err := g.authenticateStep(rq)
	if p, ok := err.(*Problem); ok && errors.Is(p.Err, auth.ErrNotInStep) {
		if c, verr := g.tokens.Verify(g.bearer(rq.hdr)); verr == nil {
			rq.user = c.Subject
			return c, nil
		}
	}
	return claims, err
}

// authenticateFull also refuses a token that is only good for changing the
// password (must-change flag).
func (g *Gateway) authenticateFull(rq *request) (*auth.Claims, error) {
	claims, err := g.authenticate(rq)
	if err != nil {
		return nil, err
	}
	if claims.PasswordChange {
		return nil, problem(ProblemPasswordChange, "change your password first: POST "+g.cfg.Routes.ChangePassword)
	}
	return claims, nil
}

// decide applies a rule decision to the request: nil claims and nil error
// for a public rule without a (valid) token; claims when allowed; a problem
// otherwise. It counts the outcome in authgate_decisions_total.
func (g *Gateway) decide(rq *request, d rules.Decision) (*auth.Claims, error) {
	claims, out, err := g.judge(rq, d)
	out.counter(g.metrics).Inc()
	return claims, err
}

// outcome is the result label of a decision.
type outcome uint8

const (
	outcomeAllow outcome = iota
	outcomePublic
	outcomeDeny
	outcomeUnauthenticated
	outcomeForbidden
)

func (o outcome) counter(m *metrics) *lazyCounter {
	d := &m.decided
	return [...]*lazyCounter{&d.allow, &d.public, &d.deny, &d.unauthenticated, &d.forbidden}[o]
}

// judge is decide without the metric: the fast path judges a request before
// it knows whether it serves it.
func (g *Gateway) judge(rq *request, d rules.Decision) (*auth.Claims, outcome, error) {
	if rq.trace != nil {
		return g.judgeTraced(rq, d)
	}
	return g.judgeRule(rq, d)
}

// judgeRule is judge's decision itself.
func (g *Gateway) judgeRule(rq *request, d rules.Decision) (*auth.Claims, outcome, error) {
	switch d.Policy {
	case rules.PolicyDeny:
		if d.Rule < 0 {
			return nil, outcomeDeny, problem(ProblemDenied, "no rule allows this request (default_policy deny)")
		}
		return nil, outcomeDeny, problem(ProblemDenied, "denied by rule")
	case rules.PolicyPublic:
		if g.bearer(rq.hdr) == "" {
			return nil, outcomePublic, nil
		}
		claims, err := g.authenticateFull(rq)
		if err != nil {
			return nil, outcomePublic, nil // a bad token on a public route is ignored, not trusted
		}
		return claims, outcomePublic, nil
	}
	claims, err := g.authenticateFull(rq)
	if err != nil {
		return nil, outcomeUnauthenticated, err
	}
	if !d.Allows(claims.Roles) {
		return nil, outcomeForbidden, problem(ProblemForbidden, "requires one of the roles: "+strings.Join(d.Roles, ", "))
	}
	if d.MFA {
		if !claims.HasSecondFactor() {
			return nil, outcomeUnauthenticated, g.secondFactorProblem(StepVerify)
		}
		if d.MaxAge > 0 && !claims.SecondFactorWithin(d.MaxAge, g.now()) {
			return nil, outcomeUnauthenticated, g.secondFactorProblem(StepUp)
		}
	}
	return claims, outcomeAllow, nil
}

// The steps a second-factor-required problem names (its "step" member).
const (
	StepVerify = auth.StepVerify // prove a second factor (the second step)
	StepEnrol  = auth.StepEnrol  // enrol a second factor first
	StepUp     = "step_up"       // prove one again: the rule's max_age has passed
)

// secondFactorProblem is the 401 for a request that needs step first. It
// reads only the token's claims: no store round trip on the request path.
func (g *Gateway) secondFactorProblem(step string) *Problem {
	base := g.cfg.Routes.MFA
	detail := "a second factor is required: POST " + base + "/verify"
	switch step {
	case StepEnrol:
		detail = "enrol a second factor first: POST " + base + "/totp or " + base + "/passkeys/begin"
	case StepUp:
		detail = "this path needs a recent second factor: POST " + base + "/verify"
	}
	return &Problem{Type: ProblemSecondFactorRequired, Detail: detail, Step: step}
}
