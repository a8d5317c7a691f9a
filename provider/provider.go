package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"authgate/config"
)

// maxUserInfo bounds a user-info answer; a bigger one is not a profile.
const maxUserInfo = 1 << 20

// rediscoverAfter is how long a failed OIDC discovery is remembered before
// the next sign-in tries again, so an unreachable provider is not asked on
// every request.
const rediscoverAfter = 10 * time.Second

// client talks to one provider.
type client struct {
	cfg  config.Provider
	http *http.Client

	mu       sync.Mutex
	oidc     *oidc.Provider // discovered, nil until then (oidc only)
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
	failErr  error
}

func newClient(cfg config.Provider, hc *http.Client) *client {
	return &client{cfg: cfg, http: hc}
}

// ctx carries the HTTP client for go-oidc and x/oauth2, which take it from
// the context.
func (c *client) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, c.http)
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

// discover returns the OIDC provider, running discovery the first time and
// again after a failure (at most every rediscoverAfter).
func (c *client) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.oidc != nil {
		return c.oidc, c.verifier, nil
	}
	if !c.failedAt.IsZero() && time.Since(c.failedAt) < rediscoverAfter {
		return nil, nil, c.failErr
	}
	// The provider keeps this context for its key set's later fetches: it
	// must not be the request's, which ends with the request.
	p, err := oidc.NewProvider(c.ctx(context.WithoutCancel(ctx)), c.cfg.Issuer)
	if err != nil {
		c.failedAt, c.failErr = time.Now(), err
		return nil, nil, err
	}
	c.oidc = p
	c.verifier = p.VerifierContext(c.ctx(context.Background()), &oidc.Config{ClientID: c.cfg.ClientID})
	return p, c.verifier, nil
}

// oauth2Config is the client's OAuth2 configuration with scopes.
func (c *client) oauth2Config(ctx context.Context, scopes []string) (*oauth2.Config, error) {
	oc := &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		RedirectURL:  c.cfg.RedirectURL,
		Scopes:       scopes,
	}
	if c.cfg.Type == "oidc" {
		p, _, err := c.discover(ctx)
		if err != nil {
			return nil, fail(KindUnavailable, "the identity provider cannot be reached", err)
		}
		oc.Endpoint = p.Endpoint()
	} else {
		oc.Endpoint = oauth2.Endpoint{AuthURL: c.cfg.AuthURL, TokenURL: c.cfg.TokenURL}
	}
	return oc, nil
}

// authURL is where the browser is sent to sign in.
func (c *client) authURL(ctx context.Context, f *flow, state string) (string, error) {
	oc, err := c.oauth2Config(ctx, f.Scopes)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier)}
	if c.cfg.Type == "oidc" {
		opts = append(opts, oidc.Nonce(f.Nonce))
	}
	return oc.AuthCodeURL(state, opts...), nil
}

// exchange trades the code for tokens and reads the account's claims.
func (c *client) exchange(ctx context.Context, f *flow, code string) (Claims, error) {
	oc, err := c.oauth2Config(ctx, f.Scopes)
	if err != nil {
		return Claims{}, err
	}
	hctx := c.ctx(ctx)
	tok, err := oc.Exchange(hctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return Claims{}, fail(KindCode, "the identity provider refused the sign-in code (expired or already used): start again", err)
		}
		return Claims{}, fail(KindUnavailable, "the identity provider cannot be reached", err)
	}
	if c.cfg.Type == "oidc" {
		return c.idTokenClaims(ctx, tok, f)
	}
	raw, err := c.userInfo(hctx, c.cfg.UserInfoURL, tok)
	if err != nil {
		return Claims{}, err
	}
	cl := mapClaims(raw, c.cfg.Claims)
	if cl.Subject == "" {
		return Claims{}, fail(KindToken, "the identity provider's answer names no account", fmt.Errorf("user-info has no %q", c.cfg.Claims.Subject))
	}
	return cl, nil
}

// idTokenClaims checks the ID token (signature, issuer, audience, expiry
// through go-oidc; the nonce here) and maps its claims, completed from the
// user-info endpoint when the token has no email.
func (c *client) idTokenClaims(ctx context.Context, tok *oauth2.Token, f *flow) (Claims, error) {
	_, verifier, err := c.discover(ctx)
	if err != nil {
		return Claims{}, fail(KindUnavailable, "the identity provider cannot be reached", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return Claims{}, fail(KindToken, "the identity provider sent no ID token", nil)
	}
	idt, err := verifier.Verify(c.ctx(ctx), rawID)
	if err != nil {
		return Claims{}, fail(KindToken, "the identity provider's ID token is not valid", err)
	}
	if idt.Nonce != f.Nonce {
		return Claims{}, fail(KindToken, "the identity provider's ID token is not valid", errors.New("nonce mismatch"))
	}
	var raw map[string]any
	if err := idt.Claims(&raw); err != nil {
		return Claims{}, fail(KindToken, "the identity provider's ID token is not valid", err)
	}
	cl := mapClaims(raw, c.cfg.Claims)
	if cl.Subject == "" {
		cl.Subject = idt.Subject
	}
	if cl.Email == "" {
		p, _, _ := c.discover(ctx)
		if ep := p.UserInfoEndpoint(); ep != "" {
			info, err := c.userInfo(c.ctx(ctx), ep, tok)
			if err != nil {
				return Claims{}, err
			}
			// OpenID Connect Core 5.3.2: the user-info sub must be the ID
			// token's, or the answer is about someone else.
			if scalar(info["sub"]) != idt.Subject {
				return Claims{}, fail(KindToken, "the identity provider's answer is about another account", errors.New("user-info sub differs from the ID token's"))
			}
			ui := mapClaims(info, c.cfg.Claims)
			cl.Email, cl.EmailVerified = ui.Email, ui.EmailVerified
			if cl.Username == "" {
				cl.Username = ui.Username
			}
			if cl.Name == "" {
				cl.Name = ui.Name
			}
			if cl.Groups == nil {
				cl.Groups = ui.Groups
			}
		}
	}
	return cl, nil
}

// userInfo fetches a JSON object with the access token.
func (c *client) userInfo(ctx context.Context, endpoint string, tok *oauth2.Token) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fail(KindUnavailable, "the identity provider's user-info URL is unusable", err)
	}
	req.Header.Set("Accept", "application/json")
	tok.SetAuthHeader(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fail(KindUnavailable, "the identity provider cannot be reached", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserInfo+1))
	if err != nil || len(body) > maxUserInfo {
		return nil, fail(KindUnavailable, "the identity provider's user-info answer is unusable", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fail(KindUnavailable, "the identity provider's user-info answer is unusable",
			fmt.Errorf("user-info status %d", resp.StatusCode))
	}
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/json") && !strings.Contains(ct, "+json") {
		return nil, fail(KindUnavailable, "the identity provider's user-info answer is unusable",
			fmt.Errorf("user-info Content-Type %q", ct))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, fail(KindUnavailable, "the identity provider's user-info answer is unusable", err)
	}
	return raw, nil
}
