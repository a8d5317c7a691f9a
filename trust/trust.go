// Package trust verifies access tokens from trusted external issuers
// (tokens.trusted_issuers), so that services holding a token of the
// company's identity provider can call through the gateway next to
// people holding authgate's own tokens.
//
// It owns each issuer's key set: fetched at start and every Refresh in the
// background, and again, at most once every MinRefetch, when a token names
// a key it does not know. A request never waits for a fetch: a token whose
// key is not (yet) known is refused, and the refetch it triggers serves the
// next one. Verification pins everything: the issuer, one of the
// configured audiences, one of the configured algorithms (and the key's
// type must be the algorithm's), an unexpired exp that is a JSON number.
//
// What it refuses to do: accept a token of an issuer not listed, let an
// external subject pass for a local user (the user-id identity header is
// "<name>:<sub>"), or let an issuer grant roles beyond its allowed_roles.
// External tokens have no authgate session, so logout and revocation do
// not apply to them; their lifetime is the issuer's.
package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"authgate/auth"
	"authgate/config"
)

// MinRefetch bounds how often an unknown kid can make an issuer's keys be
// fetched again.
var MinRefetch = 30 * time.Second

const maxJWKS = 1 << 20

// ErrNotTrusted: the token names no trusted issuer.
var ErrNotTrusted = auth.ErrNotExternal

// Issuers verifies tokens of the configured issuers. Create it with New,
// then Start it; it is safe for concurrent use.
type Issuers struct {
	byIssuer map[string]*issuer
	leeway   time.Duration
	client   *http.Client
	log      *slog.Logger
}

type issuer struct {
	cfg    config.TrustedIssuer
	parser *jwt.Parser
	keys   atomic.Pointer[map[string]jose.JSONWebKey]
	wake   chan struct{}

	mu        sync.Mutex
	lastFetch time.Time
	jwksURL   string
}

// New returns the verifier for cfg's trusted issuers, or nil when there are
// none. leeway is tokens.leeway.
func New(ti []config.TrustedIssuer, leeway time.Duration, client *http.Client, log *slog.Logger) *Issuers {
	if len(ti) == 0 {
		return nil
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	is := &Issuers{byIssuer: map[string]*issuer{}, leeway: leeway, client: client, log: log}
	for _, c := range ti {
		it := &issuer{cfg: c, wake: make(chan struct{}, 1), jwksURL: c.JWKSURL}
		it.parser = jwt.NewParser(
			jwt.WithValidMethods(c.Algorithms),
			jwt.WithIssuer(c.Issuer),
			jwt.WithAudience(c.Audience...),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(leeway),
		)
		empty := map[string]jose.JSONWebKey{}
		it.keys.Store(&empty)
		is.byIssuer[c.Issuer] = it
	}
	return is
}

// Start fetches every issuer's keys now and keeps them fresh until ctx
// ends. It does not wait for the first fetch.
func (is *Issuers) Start(ctx context.Context) {
	for _, it := range is.byIssuer {
		go is.keep(ctx, it)
	}
}

// Ready reports whether every issuer's keys have been fetched once.
func (is *Issuers) Ready() bool {
	for _, it := range is.byIssuer {
		if len(*it.keys.Load()) == 0 {
			return false
		}
	}
	return true
}

func (is *Issuers) keep(ctx context.Context, it *issuer) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-it.wake:
		}
		it.mu.Lock()
		it.lastFetch = time.Now()
		it.mu.Unlock()
		if err := is.fetch(ctx, it); err != nil {
			is.log.Warn("trusted issuer keys not fetched", "issuer", it.cfg.Issuer, "err", err)
			t.Reset(MinRefetch)
			continue
		}
		t.Reset(it.cfg.Refresh)
	}
}

// refetch asks for the keys again unless that was done within MinRefetch;
// it never blocks.
func (it *issuer) refetch() {
	it.mu.Lock()
	due := time.Since(it.lastFetch) >= MinRefetch
	if due {
		// Counted from the request, not from when the fetch runs, so the
		// calls in between cannot ask again.
		it.lastFetch = time.Now()
	}
	it.mu.Unlock()
	if due {
		select {
		case it.wake <- struct{}{}:
		default:
		}
	}
}

func (is *Issuers) fetch(ctx context.Context, it *issuer) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	url := it.jwksURL
	if url == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := is.getJSON(ctx, strings.TrimSuffix(it.cfg.Issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		if doc.Issuer != it.cfg.Issuer || doc.JWKSURI == "" {
			return fmt.Errorf("discovery names issuer %q and jwks_uri %q", doc.Issuer, doc.JWKSURI)
		}
		url = doc.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := is.getJSON(ctx, url, &set); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys[k.KeyID] = k
	}
	if len(keys) == 0 {
		return errors.New("no usable signing keys")
	}
	it.mu.Lock()
	it.jwksURL = url
	it.mu.Unlock()
	it.keys.Store(&keys)
	return nil
}

func (is *Issuers) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := is.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return err
	}
	if len(body) > maxJWKS {
		return fmt.Errorf("GET %s: answer over %d bytes", url, maxJWKS)
	}
	return json.Unmarshal(body, v)
}

// Verify returns the claims of a valid token of a trusted issuer:
// ErrNotTrusted when it names none, auth.ErrTokenExpired or
// auth.ErrTokenInvalid otherwise.
func (is *Issuers) Verify(token string) (*auth.Claims, error) {
	it := is.byIssuer[peekIssuer(token)]
	if it == nil {
		return nil, ErrNotTrusted
	}
	mc := jwt.MapClaims{}
	_, err := it.parser.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := (*it.keys.Load())[kid]
		if !ok {
			it.refetch()
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		alg := t.Method.Alg()
		if k.Algorithm != "" && k.Algorithm != alg {
			return nil, fmt.Errorf("kid %q is for %s, token says %s", kid, k.Algorithm, alg)
		}
		if !keyFits(alg, k.Key) {
			return nil, fmt.Errorf("kid %q is not a key for %s", kid, alg)
		}
		return k.Key, nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w", auth.ErrTokenExpired, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", auth.ErrTokenInvalid, it.cfg.Name, err)
	}
	return it.claims(mc)
}

// keyFits tells whether key is of the type alg verifies with.
func keyFits(alg string, key any) bool {
	switch alg[:2] {
	case "RS", "PS":
		k, ok := key.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= 2048
	case "ES":
		k, ok := key.(*ecdsa.PublicKey)
		return ok && ((alg == "ES256" && k.Curve.Params().BitSize == 256) || (alg == "ES384" && k.Curve.Params().BitSize == 384))
	case "Ed":
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// claims maps a verified token onto authgate's claims.
func (it *issuer) claims(mc jwt.MapClaims) (*auth.Claims, error) {
	c := it.cfg.Claims
	sub, _ := mc[c.Subject].(string)
	if sub == "" {
		return nil, fmt.Errorf("%w: %s: no %q claim", auth.ErrTokenInvalid, it.cfg.Name, c.Subject)
	}
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, fmt.Errorf("%w: %s: exp", auth.ErrTokenInvalid, it.cfg.Name)
	}
	out := &auth.Claims{External: true}
	out.Issuer = it.cfg.Issuer
	out.Subject = it.cfg.Name + ":" + sub
	out.ExpiresAt = exp
	out.Name, _ = mc[c.Name].(string)
	out.Email, _ = mc[c.Email].(string)
	var roles []string
	switch v := mc[c.Roles].(type) {
	case []any:
		for _, r := range v {
			if s, ok := r.(string); ok {
				roles = append(roles, s)
			}
		}
	case string:
		roles = strings.Fields(v)
	}
	for _, r := range roles {
		if slices.Contains(it.cfg.AllowedRoles, r) && !slices.Contains(out.Roles, r) {
			out.Roles = append(out.Roles, r)
		}
	}
	out.SetRolesList()
	out.AMR, out.AuthTime = authnClaims(mc, exp.Time)
	return out, nil
}

// authnClaims reads amr (RFC 8176) and auth_time (OpenID Connect Core
// §2), by their standard names, so that an issuer's token can meet a rule
// with mfa: required (see auth.Claims.HasSecondFactor). Values of the wrong
// type, and an auth_time after the token's exp, are left out: that only
// ever makes a requirement refuse, never pass.
func authnClaims(mc jwt.MapClaims, exp time.Time) ([]string, *jwt.NumericDate) {
	var amr []string
	if v, ok := mc["amr"].([]any); ok {
		for _, m := range v {
			if s, ok := m.(string); ok {
				amr = append(amr, s)
			}
		}
	}
	f, ok := mc["auth_time"].(float64)
	if !ok || f <= 0 || math.IsNaN(f) || f > float64(exp.Unix()) {
		return amr, nil
	}
	return amr, jwt.NewNumericDate(time.Unix(int64(f), 0))
}

// peekIssuer reads the iss claim of a token without verifying anything, to
// pick the issuer whose keys and rules then verify it.
func peekIssuer(token string) string {
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return ""
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || second > 16<<10 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(rest[:second])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Iss
}
