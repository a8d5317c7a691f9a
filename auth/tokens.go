package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authgate/config"
)

// Access token errors. Verify returns errors that are exactly one of
// ErrTokenInvalid or ErrTokenExpired; Verifier.Authenticate may also return
// ErrTokenRevoked. The errors also wrap golang-jwt's reason where there is
// one (errors.Is(err, jwt.ErrTokenExpired) holds for expired tokens).
var (
	// ErrTokenInvalid: malformed, badly signed, wrong issuer or audience,
	// unknown kid, not yet valid, or missing required claims.
	ErrTokenInvalid = errors.New("invalid token")
	// ErrTokenExpired: the token was valid but its exp (plus leeway) passed.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenRevoked: the token's session was ended (logout, password
	// change, user deactivated).
	ErrTokenRevoked = errors.New("token revoked")
)

// Claims are the claims of an access token. A *Claims returned by Verify or
// Authenticate may be shared with other callers: treat it as read-only.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the session the token belongs to; revocation is by it.
	SessionID string `json:"sid"`
	// Name is the username at issue time.
	Name  string   `json:"name"`
	Email string   `json:"email,omitempty"`
	Roles []string `json:"roles"`
	// PasswordChange is set when the user must change the password before
	// doing anything else.
	PasswordChange bool `json:"pwc,omitempty"`
	// Epoch is the store epoch the token was issued in (see package lease):
	// a store that lost its data has a new one, and tokens of the old one
	// are refused.
	Epoch string `json:"ep,omitempty"`
	// External marks the claims of a trusted external issuer's token
	// (package trust): no authgate session, so neither revocation nor the
	// store epoch applies.
	External bool `json:"-"`

	rolesList string // Roles joined by ",", set by Issue and Verify
}

// SetRolesList computes RolesList once, for claims built outside Verify.
func (c *Claims) SetRolesList() { c.rolesList = strings.Join(c.Roles, ",") }

// RolesList is Roles joined by commas, as the X-User-Roles header carries
// them. Issue and Verify compute it once per token, so that a cached token
// costs no allocation per request.
func (c *Claims) RolesList() string {
	if c.rolesList == "" && len(c.Roles) > 0 {
		return strings.Join(c.Roles, ",")
	}
	return c.rolesList
}

// Tokens issues and verifies access tokens with the keys of a KeySet. It is
// safe for concurrent use.
type Tokens struct {
	keys      *KeySet
	issuer    string
	audience  jwt.ClaimStrings
	ttl       time.Duration
	leeway    time.Duration
	method    jwt.SigningMethod
	parser    *jwt.Parser
	keyfunc   jwt.Keyfunc
	clock     func() time.Time // time.Now; tests move it
	randRead  func([]byte) (int, error)
	signerKID string
	epoch     func() string // nil: tokens carry no epoch
}

// SetEpoch makes Issue stamp every token with epoch() (the store epoch,
// see package lease). Call it before issuing.
func (t *Tokens) SetEpoch(epoch func() string) { t.epoch = epoch }

// NewTokens returns Tokens for cfg (defaults applied by config) signing
// with keys' signing key. The verification policy is fixed here, once:
// only the algorithms of the configured keys, the configured issuer, one of
// the configured audiences, exp required, iat not in the future, and the
// configured leeway on all times.
func NewTokens(cfg config.Tokens, keys *KeySet) *Tokens {
	t := &Tokens{
		keys:      keys,
		issuer:    cfg.Issuer,
		audience:  jwt.ClaimStrings(cfg.Audience),
		ttl:       cfg.AccessTTL,
		leeway:    cfg.Leeway,
		method:    jwt.GetSigningMethod(keys.signer.alg),
		clock:     time.Now,
		randRead:  rand.Read,
		signerKID: keys.signer.kid,
	}
	if t.ttl <= 0 {
		t.ttl = 15 * time.Minute
	}
	t.keyfunc = t.lookupKey
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(keys.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(t.leeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return t.clock() }),
	}
	if t.issuer != "" {
		opts = append(opts, jwt.WithIssuer(t.issuer))
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	t.parser = jwt.NewParser(opts...)
	return t
}

// Issue signs a new access token for user sub in session sid, valid from
// now (truncated to the second, as JWT times are) for AccessTTL. It returns
// the token and the claims it carries.
func (t *Tokens) Issue(sub, sid, name, email string, roles []string, passwordChange bool, now time.Time) (string, *Claims, error) {
	var id [16]byte
	if _, err := t.randRead(id[:]); err != nil {
		return "", nil, fmt.Errorf("issue token: jti: %w", err)
	}
	now = now.Truncate(time.Second)
	if roles == nil {
		roles = []string{}
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   sub,
			Audience:  t.audience,
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        b64(id[:]),
		},
		SessionID:      sid,
		Name:           name,
		Email:          email,
		Roles:          roles,
		PasswordChange: passwordChange,
		rolesList:      strings.Join(roles, ","),
	}
	if t.epoch != nil {
		c.Epoch = t.epoch()
	}
	tok := jwt.NewWithClaims(t.method, c)
	tok.Header["kid"] = t.signerKID
	s, err := tok.SignedString(t.keys.signer.sign)
	if err != nil {
		return "", nil, fmt.Errorf("issue token: sign with key %q: %w", t.signerKID, err)
	}
	return s, c, nil
}

// Verify checks token (signature, algorithm pinned to its kid's key,
// issuer, audience, exp, nbf, iat) and returns its claims. It never returns
// claims with an error.
func (t *Tokens) Verify(token string) (*Claims, error) {
	c := new(Claims)
	if _, err := t.parser.ParseWithClaims(token, c, t.keyfunc); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w", ErrTokenExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	// Tokens of this gateway always carry these; a token without a session
	// could not be revoked.
	if c.Subject == "" || c.SessionID == "" {
		return nil, fmt.Errorf("%w: missing sub or sid", ErrTokenInvalid)
	}
	if err := checkRoles(c.Roles); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	c.rolesList = strings.Join(c.Roles, ",")
	return c, nil
}

// lookupKey is the keyfunc: the kid is looked up only among the configured
// keys, and the key's algorithm must be the token's, so that a token signed
// with HS256 and an EdDSA public key as secret is refused.
func (t *Tokens) lookupKey(tok *jwt.Token) (any, error) {
	if _, ok := tok.Header["crit"]; ok {
		return nil, errors.New("crit header not supported")
	}
	kid, ok := tok.Header["kid"].(string)
	if !ok {
		return nil, errors.New("missing kid")
	}
	k, ok := t.keys.keys[kid]
	if !ok {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	if alg := tok.Method.Alg(); alg != k.alg {
		return nil, fmt.Errorf("kid %q is a %s key, token says %s", kid, k.alg, alg)
	}
	return k.verify, nil
}
