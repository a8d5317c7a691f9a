package gateway

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"authgate/auth"
	"authgate/gateway/rules"
	"authgate/tracing"
)

// The gateway's spans (package tracing makes them; docs/tracing.md lists
// them). Every function here runs only when tracing is on (g.tr != nil,
// rq.trace != nil): the untraced path checks for nil and calls none.

// startTrace starts the request's server span, continuing a trusted
// proxy's trace, and makes its context the request's (c.UserContext, so
// store calls and log lines of the request carry it).
func (g *Gateway) startTrace(c *fiber.Ctx, rq *request) trace.Span {
	ctx, span := g.tr.Request(c.UserContext(), rq.hdr, rq.peerTrusted, c.Method())
	c.SetUserContext(ctx)
	rq.trace = ctx
	return span
}

// endTrace ends the server span with what the request came to.
func (g *Gateway) endTrace(c *fiber.Ctx, rq *request, span trace.Span) {
	tracing.EndRequest(span, tracing.RequestEnd{
		Method: c.Method(), Route: rq.route, Path: rq.path, Host: rq.host,
		Status: c.Response().StatusCode(), RequestID: rq.id, ClientIP: rq.clientIP, User: rq.user,
	})
}

// outcomeNames are the outcome labels of authgate_decisions_total.
var outcomeNames = [...]string{outcomeAllow: "allow", outcomePublic: "public", outcomeDeny: "deny",
	outcomeUnauthenticated: "unauthenticated", outcomeForbidden: "forbidden"}

// judgeTraced is judge in a span "authgate.decide", whose child is the
// token check.
func (g *Gateway) judgeTraced(rq *request, d rules.Decision) (*auth.Claims, outcome, error) {
	parent := rq.trace
	if !tracing.Recording(parent) {
		// Not sampled: no child span either (the token check's included).
		rq.trace = nil
		claims, out, err := g.judgeRule(rq, d)
		rq.trace = parent
		return claims, out, err
	}
	ctx, span := g.tr.Start(parent, "authgate.decide",
		attribute.Int("authgate.rule", d.Rule), attribute.String("authgate.policy", d.Policy.String()))
	rq.trace = ctx
	claims, out, err := g.judgeRule(rq, d)
	rq.trace = parent
	span.SetAttributes(attribute.String("authgate.outcome", outcomeNames[out]))
	span.End()
	return claims, out, err
}

// startTokenCheck starts the span of an access token's verification.
func (g *Gateway) startTokenCheck(rq *request) trace.Span {
	_, span := g.tr.Start(rq.trace, "authgate.token_check")
	return span
}

// endTokenCheck records the verification's result (never the token).
func endTokenCheck(span trace.Span, claims *auth.Claims, err error) {
	result := "valid"
	switch {
	case err == nil:
		span.SetAttributes(attribute.Bool("authgate.token.external", claims.External))
	case errors.Is(err, auth.ErrNotInStep):
		result = "not_in_step"
	case errors.Is(err, auth.ErrTokenExpired):
		result = "expired"
	case errors.Is(err, auth.ErrTokenRevoked):
		result = "revoked"
	default:
		result = "invalid"
	}
	span.SetAttributes(attribute.String("authgate.token.result", result))
	span.End()
}

// endUpstream ends the upstream-exchange span with the upstream's status.
func endUpstream(c *fiber.Ctx, span trace.Span, err error) {
	status := 0
	if err == nil {
		status = c.Response().StatusCode()
	}
	tracing.EndUpstream(span, status, err)
}
