package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authgate/config"
)

// testNow is the fixed "now" of token tests.
var testNow = time.Unix(1_700_000_000, 0)

// newTestTokens loads keys and returns Tokens whose clock is at testNow.
func newTestTokens(t testing.TB, cfg config.Tokens) *Tokens {
	t.Helper()
	ks, err := LoadKeys(cfg, t.TempDir())
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	tk := NewTokens(cfg, ks)
	tk.clock = func() time.Time { return testNow }
	return tk
}

// craft signs arbitrary claims with arbitrary header fields.
func craft(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("craft token: %v", err)
	}
	return s
}

// goodClaims are the claims of a valid token at testNow; mods edit a copy.
func goodClaims(mods ...func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": "authgate", "aud": []string{"authgate"}, "sub": "u1", "sid": "s1",
		"name": "alice", "roles": []string{"user"}, "jti": "j1",
		"iat": testNow.Unix(), "nbf": testNow.Unix(), "exp": testNow.Add(10 * time.Minute).Unix(),
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func TestIssuedTokensVerifyForEveryAlgorithm(t *testing.T) {
	f := writeKeyFiles(t)
	for _, key := range []config.Key{
		{Kid: "ed", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8},
		{Kid: "ec", Alg: "ES256", PrivateKeyFile: f.ecPKCS8},
		{Kid: "rsa", Alg: "RS256", PrivateKeyFile: f.rsaPKCS8},
		{Kid: "hs", Alg: "HS256", Secret: hsSecret},
	} {
		t.Run(key.Alg, func(t *testing.T) {
			tk := newTestTokens(t, tokensConfig(key))
			tok, issued, err := tk.Issue("u1", "s1", "alice", "a@example.com", []string{"user", "admin"}, true, testNow.Add(400*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tk.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(got, issued) {
				t.Errorf("verified claims differ from issued ones:\n got %+v\nwant %+v", got, issued)
			}
			want := Claims{
				RegisteredClaims: jwt.RegisteredClaims{
					Issuer: "authgate", Subject: "u1", Audience: jwt.ClaimStrings{"authgate"},
					IssuedAt: jwt.NewNumericDate(testNow), NotBefore: jwt.NewNumericDate(testNow),
					ExpiresAt: jwt.NewNumericDate(testNow.Add(15 * time.Minute)), ID: got.ID,
				},
				SessionID: "s1", Name: "alice", Email: "a@example.com", Roles: []string{"user", "admin"}, PasswordChange: true,
				rolesList: "user,admin",
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("claims:\n got %+v\nwant %+v", *got, want)
			}
			if len(got.ID) < 16 {
				t.Errorf("jti %q too short to be random", got.ID)
			}
			if got.RolesList() != "user,admin" || (&Claims{Roles: []string{"a", "b"}}).RolesList() != "a,b" {
				t.Errorf("RolesList %q", got.RolesList())
			}
			hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(hdr), `"kid":"`+key.Kid+`"`) || !strings.Contains(string(hdr), `"alg":"`+key.Alg+`"`) {
				t.Errorf("header %s lacks kid %q / alg %q", hdr, key.Kid, key.Alg)
			}
		})
	}
}

func TestIssueGivesEveryTokenItsOwnID(t *testing.T) {
	tk := newTestTokens(t, tokensConfig(config.Key{Kid: "hs", Alg: "HS256", Secret: hsSecret}))
	_, a, err := tk.Issue("u1", "s1", "alice", "", nil, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := tk.Issue("u1", "s1", "alice", "", nil, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Errorf("two tokens share jti %q", a.ID)
	}
	if a.Roles == nil {
		t.Error("nil roles issued as null instead of []")
	}
}

// flipLastSignatureBits re-spells the last base64 character of the
// signature with non-zero padding bits: the same bytes to a lax decoder.
func flipLastSignatureBits(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[last|1])
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	f := writeKeyFiles(t)
	k := keysForTest(t)
	cfg := tokensConfig(
		config.Key{Kid: "ed", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8},
		config.Key{Kid: "ec", Alg: "ES256", PrivateKeyFile: f.ecPKCS8},
		config.Key{Kid: "hs", Alg: "HS256", Secret: hsSecret},
	)
	tk := newTestTokens(t, cfg)
	edOnly := newTestTokens(t, tokensConfig(config.Key{Kid: "ed", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8}))
	edPub := []byte(k.ed.Public().(ed25519.PublicKey))
	edPubPEM, err := os.ReadFile(f.edPub)
	if err != nil {
		t.Fatal(err)
	}
	ed := func(c jwt.MapClaims) string {
		return craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ed"}, c)
	}
	valid := ed(goodClaims())
	parts := strings.Split(valid, ".")
	tamperedPayload := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(
		`{"iss":"authgate","aud":["authgate"],"sub":"admin","sid":"s1","exp":`+
			strconv.FormatInt(testNow.Add(10*time.Minute).Unix(), 10)+`}`)) + "." + parts[2]
	sig := []byte(parts[2])
	sig[10] ^= 1
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)

	tests := []struct {
		name    string
		tk      *Tokens
		token   string
		wantErr error
	}{
		{"alg none", tk, craft(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": "ed"}, goodClaims()), ErrTokenInvalid},
		{"alg none without signature or kid", tk, craft(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, goodClaims()), ErrTokenInvalid},
		{"wrong issuer", tk, ed(goodClaims(func(c jwt.MapClaims) { c["iss"] = "evil" })), ErrTokenInvalid},
		{"missing issuer", tk, ed(goodClaims(func(c jwt.MapClaims) { delete(c, "iss") })), ErrTokenInvalid},
		{"wrong audience", tk, ed(goodClaims(func(c jwt.MapClaims) { c["aud"] = []string{"other-app"} })), ErrTokenInvalid},
		{"missing audience", tk, ed(goodClaims(func(c jwt.MapClaims) { delete(c, "aud") })), ErrTokenInvalid},
		{"missing exp", tk, ed(goodClaims(func(c jwt.MapClaims) { delete(c, "exp") })), ErrTokenInvalid},
		{"exp not a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })), ErrTokenInvalid},
		{"expired beyond leeway", tk, ed(goodClaims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-31 * time.Second).Unix() })), ErrTokenExpired},
		{"nbf in the future", tk, ed(goodClaims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(5 * time.Minute).Unix() })), ErrTokenInvalid},
		{"iat in the future", tk, ed(goodClaims(func(c jwt.MapClaims) { c["iat"] = testNow.Add(5 * time.Minute).Unix() })), ErrTokenInvalid},
		// RFC 7519 section 2: a NumericDate is a JSON number. golang-jwt
		// reads dates through json.Number, which also takes a string of
		// digits; a token whose dates are strings was not made by authgate.
		{"exp a string of digits", tk, ed(goodClaims(func(c jwt.MapClaims) { c["exp"] = strconv.FormatInt(testNow.Add(10*time.Minute).Unix(), 10) })), ErrTokenInvalid},
		{"nbf a string of digits", tk, ed(goodClaims(func(c jwt.MapClaims) { c["nbf"] = strconv.FormatInt(testNow.Unix(), 10) })), ErrTokenInvalid},
		{"iat a string of digits", tk, ed(goodClaims(func(c jwt.MapClaims) { c["iat"] = strconv.FormatInt(testNow.Unix(), 10) })), ErrTokenInvalid},
		{"exp null", tk, ed(goodClaims(func(c jwt.MapClaims) { c["exp"] = nil })), ErrTokenInvalid},
		{"nbf null", tk, ed(goodClaims(func(c jwt.MapClaims) { c["nbf"] = nil })), ErrTokenInvalid},
		{"iat a boolean", tk, ed(goodClaims(func(c jwt.MapClaims) { c["iat"] = true })), ErrTokenInvalid},
		{"exp an array", tk, ed(goodClaims(func(c jwt.MapClaims) { c["exp"] = []int64{testNow.Add(10 * time.Minute).Unix()} })), ErrTokenInvalid},
		{"exp negative", tk, ed(goodClaims(func(c jwt.MapClaims) { c["exp"] = -1 })), ErrTokenExpired},
		{"exp beyond any date", tk, ed(goodClaims(func(c jwt.MapClaims) { c["exp"] = 1e300 })), ErrTokenInvalid},
		{"sub a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["sub"] = 42 })), ErrTokenInvalid},
		{"sub an array", tk, ed(goodClaims(func(c jwt.MapClaims) { c["sub"] = []string{"admin"} })), ErrTokenInvalid},
		{"sid a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["sid"] = 7 })), ErrTokenInvalid},
		{"sid an object", tk, ed(goodClaims(func(c jwt.MapClaims) { c["sid"] = map[string]any{"id": "s1"} })), ErrTokenInvalid},
		{"roles a string", tk, ed(goodClaims(func(c jwt.MapClaims) { c["roles"] = "admin" })), ErrTokenInvalid},
		{"roles holding a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["roles"] = []any{"user", 1} })), ErrTokenInvalid},
		{"roles holding null", tk, ed(goodClaims(func(c jwt.MapClaims) { c["roles"] = []any{"user", nil} })), ErrTokenInvalid},
		{"auth_time a string of digits", tk, ed(goodClaims(func(c jwt.MapClaims) { c["auth_time"] = strconv.FormatInt(testNow.Unix(), 10) })), ErrTokenInvalid},
		{"auth_time null", tk, ed(goodClaims(func(c jwt.MapClaims) { c["auth_time"] = nil })), ErrTokenInvalid},
		{"auth_time beyond any date", tk, ed(goodClaims(func(c jwt.MapClaims) { c["auth_time"] = 1e300 })), ErrTokenInvalid},
		{"amr a string", tk, ed(goodClaims(func(c jwt.MapClaims) { c["amr"] = "otp" })), ErrTokenInvalid},
		{"amr holding a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["amr"] = []any{"pwd", 1} })), ErrTokenInvalid},
		{"mfa step a boolean", tk, ed(goodClaims(func(c jwt.MapClaims) { c["mfa"] = false })), ErrTokenInvalid},
		{"roles holding a comma", tk, ed(goodClaims(func(c jwt.MapClaims) { c["roles"] = []string{"user,admin"} })), ErrTokenInvalid},
		{"roles holding an empty name", tk, ed(goodClaims(func(c jwt.MapClaims) { c["roles"] = []string{""} })), ErrTokenInvalid},
		{"name a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["name"] = 1 })), ErrTokenInvalid},
		{"pwc a string", tk, ed(goodClaims(func(c jwt.MapClaims) { c["pwc"] = "false" })), ErrTokenInvalid},
		{"iss an array", tk, ed(goodClaims(func(c jwt.MapClaims) { c["iss"] = []string{"authgate"} })), ErrTokenInvalid},
		{"aud holding a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["aud"] = []any{"authgate", 1} })), ErrTokenInvalid},
		{"jti a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["jti"] = 1 })), ErrTokenInvalid},
		{"ep a number", tk, ed(goodClaims(func(c jwt.MapClaims) { c["ep"] = 1 })), ErrTokenInvalid},
		{"missing sid", tk, ed(goodClaims(func(c jwt.MapClaims) { delete(c, "sid") })), ErrTokenInvalid},
		{"missing sub", tk, ed(goodClaims(func(c jwt.MapClaims) { delete(c, "sub") })), ErrTokenInvalid},
		{"unknown kid", tk, craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "nope"}, goodClaims()), ErrTokenInvalid},
		{"missing kid", tk, craft(t, jwt.SigningMethodEdDSA, k.ed, nil, goodClaims()), ErrTokenInvalid},
		{"kid not a string", tk, craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": 1}, goodClaims()), ErrTokenInvalid},
		{"EdDSA token naming the ES256 kid", tk, craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ec"}, goodClaims()), ErrTokenInvalid},
		{"ES256 token naming the EdDSA kid", tk, craft(t, jwt.SigningMethodES256, k.ec, map[string]any{"kid": "ed"}, goodClaims()), ErrTokenInvalid},
		{"HS256 with the EdDSA public key as secret", tk, craft(t, jwt.SigningMethodHS256, edPub, map[string]any{"kid": "ed"}, goodClaims()), ErrTokenInvalid},
		{"HS256 with the EdDSA public PEM as secret", tk, craft(t, jwt.SigningMethodHS256, edPubPEM, map[string]any{"kid": "ed"}, goodClaims()), ErrTokenInvalid},
		{"HS256 with the EdDSA public key, HS256 kid", tk, craft(t, jwt.SigningMethodHS256, edPub, map[string]any{"kid": "hs"}, goodClaims()), ErrTokenInvalid},
		{"HS256 when no HS256 key is configured", edOnly, craft(t, jwt.SigningMethodHS256, edPub, map[string]any{"kid": "ed"}, goodClaims()), ErrTokenInvalid},
		{"RS256 not configured", tk, craft(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "ed"}, goodClaims()), ErrTokenInvalid},
		{"signed by another Ed25519 key", tk, craft(t, jwt.SigningMethodEdDSA, k.ed2, map[string]any{"kid": "ed"}, goodClaims()), ErrTokenInvalid},
		{"tampered payload", tk, tamperedPayload, ErrTokenInvalid},
		{"tampered signature", tk, tamperedSig, ErrTokenInvalid},
		{"non-canonical base64 signature", tk, flipLastSignatureBits(valid), ErrTokenInvalid},
		{"padded segments", tk, valid + "==", ErrTokenInvalid},
		{"crit header", tk, craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ed", "crit": []string{"exp"}}, goodClaims()), ErrTokenInvalid},
		{"empty", tk, "", ErrTokenInvalid},
		{"two segments", tk, parts[0] + "." + parts[1], ErrTokenInvalid},
		{"four segments", tk, valid + ".x", ErrTokenInvalid},
		{"garbage", tk, "not a token at all", ErrTokenInvalid},
	}
	// The fixture itself must be good, or every case above passes for the
	// wrong reason.
	if _, err := tk.Verify(valid); err != nil {
		t.Fatalf("valid crafted token refused: %v", err)
	}
	if _, err := tk.Verify(craft(t, jwt.SigningMethodHS256, []byte(hsSecret), map[string]any{"kid": "hs"}, goodClaims())); err != nil {
		t.Fatalf("valid HS256 token refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.tk.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", c)
			}
			if c != nil {
				t.Errorf("Verify returned claims with its error")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v is not %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrTokenInvalid && errors.Is(err, ErrTokenExpired) {
				t.Errorf("error %v is also ErrTokenExpired", err)
			}
		})
	}
}

func TestVerifyReportsExpiryWithJWTReason(t *testing.T) {
	tk := newTestTokens(t, tokensConfig(config.Key{Kid: "hs", Alg: "HS256", Secret: hsSecret}))
	tok, _, err := tk.Issue("u1", "s1", "alice", "", nil, false, testNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tk.Verify(tok)
	if !errors.Is(err, ErrTokenExpired) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("error %v: want ErrTokenExpired wrapping jwt.ErrTokenExpired", err)
	}
}

func TestVerifyToleratesClockSkewWithinLeeway(t *testing.T) {
	f := writeKeyFiles(t)
	k := keysForTest(t)
	tk := newTestTokens(t, tokensConfig(config.Key{Kid: "ed", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8}))
	tests := []struct {
		name string
		mod  func(jwt.MapClaims)
	}{
		{"expired 20s ago", func(c jwt.MapClaims) { c["exp"] = testNow.Add(-20 * time.Second).Unix() }},
		{"nbf 20s ahead", func(c jwt.MapClaims) { c["nbf"] = testNow.Add(20 * time.Second).Unix() }},
		{"iat 20s ahead", func(c jwt.MapClaims) { c["iat"] = testNow.Add(20 * time.Second).Unix() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ed"}, goodClaims(tt.mod))
			if _, err := tk.Verify(tok); err != nil {
				t.Errorf("refused within the 30s leeway: %v", err)
			}
		})
	}
}

func TestVerifyAcceptsAnyConfiguredAudience(t *testing.T) {
	f := writeKeyFiles(t)
	k := keysForTest(t)
	cfg := tokensConfig(config.Key{Kid: "ed", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8})
	cfg.Audience = []string{"web", "api"}
	tk := newTestTokens(t, cfg)
	for _, aud := range [][]string{{"api"}, {"web"}, {"other", "api"}} {
		tok := craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ed"}, goodClaims(func(c jwt.MapClaims) { c["aud"] = aud }))
		if _, err := tk.Verify(tok); err != nil {
			t.Errorf("aud %v refused: %v", aud, err)
		}
	}
	tok := craft(t, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ed"}, goodClaims(func(c jwt.MapClaims) { c["aud"] = "other" }))
	if _, err := tk.Verify(tok); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("aud other: err %v, want ErrTokenInvalid", err)
	}
}

func TestKeyRotationOldTokensVerifyNewTokensUseNewKey(t *testing.T) {
	f := writeKeyFiles(t)
	// Before: "v1" signs.
	before := newTestTokens(t, tokensConfig(config.Key{Kid: "v1", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8}))
	oldTok, _, err := before.Issue("u1", "s1", "alice", "", nil, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	// After: "v2" (ES256) signs, "v1" only verifies (public key only).
	after := newTestTokens(t, tokensConfig(
		config.Key{Kid: "v1", Alg: "EdDSA", PublicKeyFile: f.edPub, VerifyOnly: true},
		config.Key{Kid: "v2", Alg: "ES256", PrivateKeyFile: f.ecPKCS8},
	))
	if _, err := after.Verify(oldTok); err != nil {
		t.Errorf("token of the retired key refused: %v", err)
	}
	newTok, _, err := after.Issue("u1", "s2", "alice", "", nil, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(newTok, ".")[0])
	if !strings.Contains(string(hdr), `"kid":"v2"`) || !strings.Contains(string(hdr), `"alg":"ES256"`) {
		t.Errorf("new token header %s: want kid v2, ES256", hdr)
	}
	if _, err := after.Verify(newTok); err != nil {
		t.Errorf("new token refused: %v", err)
	}
	// Once v1 is removed from the config, its tokens are refused.
	removed := newTestTokens(t, tokensConfig(config.Key{Kid: "v2", Alg: "ES256", PrivateKeyFile: f.ecPKCS8}))
	if _, err := removed.Verify(oldTok); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("token of a removed key: err %v, want ErrTokenInvalid", err)
	}
}

func FuzzVerify(f *testing.F) {
	files := writeKeyFiles(f)
	k := keysForTest(f)
	cfg := tokensConfig(
		config.Key{Kid: "ed", Alg: "EdDSA", PrivateKeyFile: files.edPKCS8},
		config.Key{Kid: "ec", Alg: "ES256", PrivateKeyFile: files.ecPKCS8},
		config.Key{Kid: "rsa", Alg: "RS256", PrivateKeyFile: files.rsaPKCS1},
		config.Key{Kid: "hs", Alg: "HS256", Secret: hsSecret},
	)
	tk := newTestTokens(f, cfg)
	for _, kid := range []string{"ed", "ec", "rsa", "hs"} {
		cfg.SigningKey = kid
		tok, _, err := newTestTokens(f, cfg).Issue("u1", "s1", "alice", "a@example.com", []string{"user"}, false, testNow)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Add(craft(f, jwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ed"}, goodClaims(func(c jwt.MapClaims) {
		c["amr"], c["auth_time"], c["mfa"] = []string{"pwd", "otp"}, testNow.Unix(), "verify"
	})))
	f.Add(craft(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": "ed"}, goodClaims()))
	f.Add(craft(f, jwt.SigningMethodHS256, []byte(k.ed.Public().(ed25519.PublicKey)), map[string]any{"kid": "ed"}, goodClaims()))
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := tk.Verify(token)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("error %v is neither ErrTokenInvalid nor ErrTokenExpired", err)
			}
			return
		}
		if c == nil || c.Issuer != "authgate" || c.Subject == "" || c.SessionID == "" || c.ExpiresAt == nil {
			t.Fatalf("accepted token with claims %+v", c)
		}
	})
}
