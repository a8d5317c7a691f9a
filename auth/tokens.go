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
	// AMR lists how the session was authenticated, as RFC 8176 names the
	// methods: pwd (password), fed (an identity provider), otp (TOTP), hwk
	// (a passkey), kba (a recovery code). External tokens carry their
	// issuer's values.
	AMR []string `json:"amr,omitempty"`
	// AuthTime is when the user last authenticated (OIDC Core §2
	// auth_time): the sign-in, moved by every second step or step-up.
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// Step is "" for a full token. A restricted token says what is left to
	// do: StepVerify (prove a second factor) or StepEnrol (enrol one); it
	// is good for nothing else (see gateway judge).
	Step string `json:"mfa,omitempty"`
	// External marks the claims of a trusted external issuer's token
	// (package trust): no authgate session, so neither revocation nor the
	// store epoch applies.
	External bool `json:"-"`

	rolesList string // Roles joined by ",", set by Issue and Verify
}

// Steps a restricted token can be in (Claims.Step).
const (
	StepVerify = "verify" // signed in with one factor; the second is pending
	StepEnrol  = "enrol"  // signed in, but must enrol a second factor first
)

// RestrictedTTL caps the access TTL of restricted tokens (Step != ""):
// they only finish the second step, which takes minutes, not a session.
const RestrictedTTL = 5 * time.Minute

// Authn is how a session was authenticated: what Sessions.Start records in
// the session and every token of it carries.
type Authn struct {
	AMR  []string  // RFC 8176 method values, e.g. ["pwd"] or ["pwd", "otp"]
	Time time.Time // when the latest authentication happened; zero: now
	Step string    // "" (full), StepVerify or StepEnrol
}

// HasSecondFactor reports whether the token proves a second factor: its
// amr names one (otp, hwk or kba for authgate's tokens; otp, hwk, mfa or
// swk for a trusted external issuer's, whose recovery codes authgate
// cannot tell apart). A restricted token never does.
func (c *Claims) HasSecondFactor() bool {
	if c.Step != "" {
		return false
	}
	for _, m := range c.AMR {
		switch m {
		case "otp", "hwk":
			return true
		case "kba":
			if !c.External {
				return true
			}
		case "mfa", "swk":
			if c.External {
				return true
			}
		}
	}
	return false
}

// SecondFactorWithin reports whether the token proves a second factor and
// its auth_time is at most d before now (a step-up requirement). A token
// without auth_time never meets it.
func (c *Claims) SecondFactorWithin(d time.Duration, now time.Time) bool {
	if !c.HasSecondFactor() || c.AuthTime == nil {
		return false
	}
	return now.Sub(c.AuthTime.Time) <= d
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
	return t.issue(&Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub},
		SessionID:        sid, Name: name, Email: email, Roles: roles, PasswordChange: passwordChange,
	}, now)
}

// issue completes c (the registered claims but sub, the epoch, and the
// expiry: AccessTTL, or RestrictedTTL when shorter for a restricted token)
// and signs it.
func (t *Tokens) issue(c *Claims, now time.Time) (string, *Claims, error) {
	var id [16]byte
	if _, err := t.randRead(id[:]); err != nil {
		return "", nil, fmt.Errorf("issue token: jti: %w", err)
	}
	now = now.Truncate(time.Second)
	if c.Roles == nil {
		c.Roles = []string{}
	}
	c.Issuer = t.issuer
	c.Audience = t.audience
	c.ExpiresAt = jwt.NewNumericDate(now.Add(t.ttlOf(c.Step)))
	c.NotBefore = jwt.NewNumericDate(now)
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ID = b64(id[:])
	c.rolesList = strings.Join(c.Roles, ",")
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

// ttlOf is the access TTL of a token in step: AccessTTL, at most
// RestrictedTTL for a restricted one.
func (t *Tokens) ttlOf(step string) time.Duration {
	if step != "" {
		return min(t.ttl, RestrictedTTL)
	}
	return t.ttl
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
