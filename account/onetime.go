package account

import (
	"context"
	"errors"
	"fmt"
	"time"

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
// lets the reset flow check the password policy against the user before it
// spends the token; the secret alone (256 bits) is what proves possession.
func (s *Service) issueOneTime(ctx context.Context, purpose, userID string, ttl time.Duration) (string, error) {
	tok, hash, err := auth.NewOpaqueToken(userID)
	if err != nil {
		return "", fmt.Errorf("new %s token for %s: %w", purpose, userID, err)
	}
	if err := s.st.PutOneTime(ctx, purpose, hash, userID, s.now().Add(ttl)); err != nil {
		return "", fmt.Errorf("store %s token: %w", purpose, err)
	}
	return tok, nil
}

// dropOneTime invalidates the user's live token of purpose by superseding it
// with one whose secret is thrown away (the store contract has no delete).
func (s *Service) dropOneTime(ctx context.Context, purpose, userID string) error {
	_, hash, err := auth.NewOpaqueToken("")
	if err != nil {
		return fmt.Errorf("drop %s token: %w", purpose, err)
	}
	if err := s.st.PutOneTime(ctx, purpose, hash, userID, s.now().Add(time.Minute)); err != nil {
		return fmt.Errorf("drop %s token: %w", purpose, err)
	}
	return nil
}

// CheckOneTime returns the user ID and secret of a presented token, or a
// refusal for anything that cannot be one. It spends nothing.
func CheckOneTime(token string) (userID, secret string, e *Error) {
	if token == "" {
		return "", "", &Error{Kind: KindValidation, Field: "token", Detail: "token: is required"}
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
func (s *Service) consumeOneTime(ctx context.Context, purpose, userID, secret string) error {
	got, err := s.st.ConsumeOneTime(ctx, purpose, auth.HashToken(secret))
	if errors.Is(err, store.ErrNotFound) || (err == nil && got != userID) {
		return invalidOneTime()
	}
	if err != nil {
		return fmt.Errorf("consume %s token: %w", purpose, err)
	}
	return nil
}

// takeMailLimits counts one mail-sending request against rate_limits
// mail_per_ip (the client) and mail_per_email (the folded address). The
// address is counted whether or not an account has it, so that a 429 tells
// nothing about accounts.
func (s *Service) takeMailLimits(ctx context.Context, cl Client, email string) error {
	if err := s.take(ctx, s.mailIP, cl, cl.IP); err != nil {
		return err
	}
	return s.take(ctx, s.mailEmail, cl, store.Fold(email))
}

// mailTimeout bounds one send: the SMTP timeout (default 10s).
func (s *Service) mailTimeout() time.Duration {
	if d := s.cfg.Mail.SMTP.Timeout; d > 0 {
		return d
	}
	return 10 * time.Second
}

// sendLink issues a one-time token of purpose for u and mails the link to
// the address to. It runs within the request, bounded by mailTimeout, and
// only logs failures: the answer must not depend on them (no enumeration,
// and the account change that led here has been made).
func (s *Service) sendLink(ctx context.Context, purpose string, u store.User, to string) {
	kind, base, ttl := mail.KindVerify, s.cfg.Mail.VerifyURL, s.cfg.OneTimeTokens.VerifyTTL
	if purpose == purposeReset {
		kind, base, ttl = mail.KindReset, s.cfg.Mail.ResetURL, s.cfg.OneTimeTokens.ResetTTL
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.mailTimeout())
	defer cancel()
	tok, err := s.issueOneTime(ctx, purpose, u.ID, ttl)
	if err != nil {
		s.log.ErrorContext(ctx, "mail not sent", "kind", kind, "user", u.ID, "err", err.Error())
		return
	}
	m, err := s.mails.Render(kind, mail.Data{Username: u.Username, Link: base + tok, ExpiresIn: mail.FormatTTL(ttl), To: to})
	if err != nil {
		s.log.ErrorContext(ctx, "mail not sent", "kind", kind, "user", u.ID, "err", err.Error())
		return
	}
	if err := s.mailer.Send(ctx, m); err != nil {
		s.log.WarnContext(ctx, "mail not sent", "kind", kind, "user", u.ID, "err", err.Error())
		return
	}
	s.log.InfoContext(ctx, "mail sent", "kind", kind, "user", u.ID)
}
