package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"authgate/auth"
	"authgate/mail"
	"authgate/store"
)

// Purposes of one-time tokens in the store.
const (
	purposeVerify = "verify"
	purposeReset  = "reset"
)

// maxOneTimeToken bounds a presented one-time token before any work.
const maxOneTimeToken = 256

// issueOneTime makes a one-time token of purpose for the user, valid for ttl,
// and stores only the hash of its secret; an earlier token of the same user
// and purpose stops working. The token is "<user id>.<secret>": the user ID
// lets the reset route check the password policy against the user before it
// spends the token; the secret alone (256 bits) is what proves possession.
func (g *Gateway) issueOneTime(ctx context.Context, purpose, userID string, ttl time.Duration) (string, error) {
	tok, hash, err := auth.NewOpaqueToken(userID)
	if err != nil {
		return "", fmt.Errorf("new %s token for %s: %w", purpose, userID, err)
	}
	if err := g.st.PutOneTime(ctx, purpose, hash, userID, g.now().Add(ttl)); err != nil {
		return "", fmt.Errorf("store %s token: %w", purpose, err)
	}
	return tok, nil
}

// dropOneTime invalidates the user's live token of purpose by superseding it
// with one whose secret is thrown away (the store contract has no delete).
func (g *Gateway) dropOneTime(ctx context.Context, purpose, userID string) error {
	_, hash, err := auth.NewOpaqueToken("")
	if err != nil {
		return fmt.Errorf("drop %s token: %w", purpose, err)
	}
	if err := g.st.PutOneTime(ctx, purpose, hash, userID, g.now().Add(time.Minute)); err != nil {
		return fmt.Errorf("drop %s token: %w", purpose, err)
	}
	return nil
}

// splitOneTime returns the user ID and secret of a presented token, or a
// 400 problem for anything that cannot be one.
func splitOneTime(token string) (userID, secret string, p *Problem) {
	if token == "" {
		return "", "", fieldProblem("token", "is required")
	}
	if len(token) > maxOneTimeToken {
		return "", "", invalidOneTime()
	}
	userID, secret, ok := auth.SplitRefresh(token)
	if !ok {
		return "", "", invalidOneTime()
	}
	return userID, secret, nil
}

// consumeOneTime spends the token of purpose whose secret is given and
// checks that it belongs to userID.
func (g *Gateway) consumeOneTime(ctx context.Context, purpose, userID, secret string) error {
	got, err := g.st.ConsumeOneTime(ctx, purpose, auth.HashToken(secret))
	if errors.Is(err, store.ErrNotFound) || (err == nil && got != userID) {
		return invalidOneTime()
	}
	if err != nil {
		return fmt.Errorf("consume %s token: %w", purpose, err)
	}
	return nil
}

func invalidOneTime() *Problem {
	return problem(ProblemInvalidOneTimeToken, "the token is invalid, expired, superseded or already used; request a new mail")
}

// takeMailLimits counts one mail-sending request against rate_limits
// mail_per_ip (the client) and mail_per_email (the folded address). The
// address is counted whether or not an account has it, so that a 429 tells
// nothing about accounts.
func (g *Gateway) takeMailLimits(ctx context.Context, c *fiber.Ctx, rq *request, email string) error {
	now := g.now()
	for _, lim := range []struct {
		l   *rateLimit
		key string
	}{{g.mailIP, rq.clientIP}, {g.mailEmail, store.Fold(email)}} {
		p, err := lim.l.take(ctx, c, lim.key, now)
		if err != nil {
			return err
		}
		if p != nil {
			g.metrics.rateLimited.WithLabelValues(lim.l.name).Inc()
			return p
		}
	}
	return nil
}

// mailTimeout bounds one send: the SMTP timeout (default 10s).
func (g *Gateway) mailTimeout() time.Duration {
	if d := g.cfg.Mail.SMTP.Timeout; d > 0 {
		return d
	}
	return 10 * time.Second
}

// sendLink issues a one-time token of purpose for u and mails the link to
// the address to. It runs within the request, bounded by mailTimeout, and
// only logs failures: the answer must not depend on them (no enumeration,
// and the account change that led here has been made).
func (g *Gateway) sendLink(c *fiber.Ctx, purpose string, u store.User, to string) {
	kind, base, ttl := mail.KindVerify, g.cfg.Mail.VerifyURL, g.cfg.OneTimeTokens.VerifyTTL
	if purpose == purposeReset {
		kind, base, ttl = mail.KindReset, g.cfg.Mail.ResetURL, g.cfg.OneTimeTokens.ResetTTL
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), g.mailTimeout())
	defer cancel()
	tok, err := g.issueOneTime(ctx, purpose, u.ID, ttl)
	if err != nil {
		g.log.Error("mail not sent", "kind", kind, "user", u.ID, "err", err.Error())
		return
	}
	m, err := g.mails.Render(kind, mail.Data{Username: u.Username, Link: base + tok, ExpiresIn: mail.FormatTTL(ttl), To: to})
	if err != nil {
		g.log.Error("mail not sent", "kind", kind, "user", u.ID, "err", err.Error())
		return
	}
	if err := g.mailer.Send(ctx, m); err != nil {
		g.log.Warn("mail not sent", "kind", kind, "user", u.ID, "err", err.Error())
		return
	}
	g.log.Info("mail sent", "kind", kind, "user", u.ID)
}

// takenProblem maps the store's uniqueness errors to their problems.
func takenProblem(err error) error {
	switch {
	case errors.Is(err, store.ErrUsernameTaken):
		return &Problem{Type: ProblemUsernameTaken, Field: "username", Detail: "username: another account has this username"}
	case errors.Is(err, store.ErrEmailTaken):
		return &Problem{Type: ProblemEmailTaken, Field: "email", Detail: "email: another account has this email address"}
	}
	return err
}
