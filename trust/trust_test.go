package trust

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"authgate/auth"
	"authgate/config"
)

// testIssuer publishes keys the test can rotate and counts key fetches.
type testIssuer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int32
}

func newTestIssuer(t *testing.T) *testIssuer {
	ti := &testIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": ti.URL, "jwks_uri": ti.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.fetches.Add(1)
		ti.mu.Lock()
		defer ti.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: ti.keys})
	})
	ti.Server = httptest.NewServer(mux)
	t.Cleanup(ti.Close)
	return ti
}

func (ti *testIssuer) publish(kid string, pub any, alg string) {
	ti.mu.Lock()
	ti.keys = append(ti.keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"})
	ti.mu.Unlock()
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func start(t *testing.T, is *Issuers) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	is.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for !is.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("keys never fetched")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTrustedIssuerTokens(t *testing.T) {
	ti := newTestIssuer(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ti.publish("r1", &rsaKey.PublicKey, "RS256")
	ti.publish("e1", edPub, "")
	is := New([]config.TrustedIssuer{{
		Name: "corp", Issuer: ti.URL, Audience: []string{"authgate", "other"}, Algorithms: []string{"RS256", "EdDSA"},
		Claims:       config.IssuerClaims{Subject: "sub", Name: "preferred_username", Email: "email", Roles: "roles"},
		AllowedRoles: []string{"reader", "writer"}, Refresh: time.Hour,
	}}, 0, nil, nil)
	start(t, is)
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": ti.URL, "aud": "authgate", "sub": "build-bot", "exp": now.Add(time.Minute).Unix(),
			"preferred_username": "Build Bot", "roles": []string{"reader", "admin"}}
	}
	edit := func(f func(jwt.MapClaims)) jwt.MapClaims { c := good(); f(c); return c }
	hsKey := []byte("0123456789abcdef0123456789abcdef")

	c, err := is.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, "r1", good()))
	if err != nil {
		t.Fatalf("good RS256 token: %v", err)
	}
	if c.Subject != "corp:build-bot" || c.Name != "Build Bot" || !slices.Equal(c.Roles, []string{"reader"}) ||
		c.RolesList() != "reader" || !c.External || c.SessionID != "" {
		t.Fatalf("claims %+v (subject must be prefixed, admin dropped)", c)
	}
	if _, err := is.Verify(sign(t, jwt.SigningMethodEdDSA, edKey, "e1", edit(func(c jwt.MapClaims) { c["aud"] = []string{"x", "other"} }))); err != nil {
		t.Fatalf("good EdDSA token with a list audience: %v", err)
	}

	// amr and auth_time let an issuer's token meet mfa: required; of the
	// wrong type they are left out, which only ever refuses more.
	signedIn := now.Add(-2 * time.Minute).Unix()
	for _, tc := range []struct {
		name     string
		amr      any
		authTime any
		wantAMR  []string
		wantAt   int64 // 0: none
		wantMFA  bool
	}{
		{"password and TOTP", []string{"pwd", "otp"}, signedIn, []string{"pwd", "otp"}, signedIn, true},
		{"generic mfa", []string{"mfa"}, signedIn, []string{"mfa"}, signedIn, true},
		{"password only", []string{"pwd"}, signedIn, []string{"pwd"}, signedIn, false},
		{"amr a string", "otp", signedIn, nil, signedIn, false},
		{"auth_time a string", []string{"hwk"}, "1700000000", []string{"hwk"}, 0, true},
		{"auth_time after exp", []string{"hwk"}, now.Add(time.Hour).Unix(), []string{"hwk"}, 0, true},
		{"neither", nil, nil, nil, 0, false},
	} {
		c, err := is.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) {
			if tc.amr != nil {
				c["amr"] = tc.amr
			}
			if tc.authTime != nil {
				c["auth_time"] = tc.authTime
			}
		})))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		gotAt := int64(0)
		if c.AuthTime != nil {
			gotAt = c.AuthTime.Unix()
		}
		if !slices.Equal(c.AMR, tc.wantAMR) || gotAt != tc.wantAt || c.HasSecondFactor() != tc.wantMFA || c.Step != "" {
			t.Errorf("%s: amr %q auth_time %d second factor %v step %q; want %q %d %v", tc.name, c.AMR, gotAt, c.HasSecondFactor(), c.Step, tc.wantAMR, tc.wantAt, tc.wantMFA)
		}
		if tc.wantAt != 0 && !c.SecondFactorWithin(5*time.Minute, now) == tc.wantMFA {
			t.Errorf("%s: SecondFactorWithin(5m) = %v", tc.name, c.SecondFactorWithin(5*time.Minute, now))
		}
	}

	refused := []struct {
		name  string
		token string
		want  error
	}{
		{"wrong audience", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { c["aud"] = "someone" })), auth.ErrTokenInvalid},
		{"no audience", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { delete(c, "aud") })), auth.ErrTokenInvalid},
		{"expired", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), auth.ErrTokenExpired},
		{"no exp", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { delete(c, "exp") })), auth.ErrTokenInvalid},
		{"exp as a string", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { c["exp"] = "99999999999" })), auth.ErrTokenInvalid},
		{"nbf in the future", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), auth.ErrTokenInvalid},
		{"no subject", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { delete(c, "sub") })), auth.ErrTokenInvalid},
		{"algorithm not pinned (RS384)", sign(t, jwt.SigningMethodRS384, rsaKey, "r1", good()), auth.ErrTokenInvalid},
		{"HS256 with the RSA key's kid (confusion)", sign(t, jwt.SigningMethodHS256, hsKey, "r1", good()), auth.ErrTokenInvalid},
		{"EdDSA token naming the RSA key", sign(t, jwt.SigningMethodEdDSA, edKey, "r1", good()), auth.ErrTokenInvalid},
		{"signed by a key it does not publish", func() string {
			other, _ := rsa.GenerateKey(rand.Reader, 2048)
			return sign(t, jwt.SigningMethodRS256, other, "r1", good())
		}(), auth.ErrTokenInvalid},
		{"untrusted issuer", sign(t, jwt.SigningMethodRS256, rsaKey, "r1", edit(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), auth.ErrNotExternal},
		{"not a JWT", "not.a.jwt", auth.ErrNotExternal},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := is.Verify(tc.token); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tc.want)
			}
		})
	}
}

func TestUnknownKidFetchesAtMostOnceAndPicksUpRotation(t *testing.T) {
	defer func(d time.Duration) { MinRefetch = d }(MinRefetch)
	MinRefetch = 300 * time.Millisecond
	ti := newTestIssuer(t)
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	ti.publish("k1", &k1.PublicKey, "RS256")
	is := New([]config.TrustedIssuer{{Name: "corp", Issuer: ti.URL, Audience: []string{"a"}, Algorithms: []string{"RS256"},
		Claims: config.IssuerClaims{Subject: "sub", Roles: "roles"}, Refresh: time.Hour}}, 0, nil, nil)
	start(t, is)
	before := ti.fetches.Load()

	// The issuer rotates to k2: the first token with it is refused (the
	// request does not wait), and triggers one fetch however many arrive.
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ti.publish("k2", &k2.PublicKey, "RS256")
	tok := sign(t, jwt.SigningMethodRS256, k2, "k2", jwt.MapClaims{"iss": ti.URL, "aud": "a", "sub": "s", "exp": time.Now().Add(time.Minute).Unix()})
	time.Sleep(MinRefetch) // the start fetch is old enough to allow one more
	for range 50 {
		is.Verify(tok)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := is.Verify(tok); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was never picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := ti.fetches.Load() - before; got != 1 {
		t.Fatalf("%d key fetches for 50 tokens with an unknown kid, want 1", got)
	}
	// A kid nobody publishes cannot make it fetch more than once per
	// MinRefetch.
	bogus := sign(t, jwt.SigningMethodRS256, k2, "nope", jwt.MapClaims{"iss": ti.URL, "aud": "a", "sub": "s", "exp": time.Now().Add(time.Minute).Unix()})
	before = ti.fetches.Load()
	for range 200 {
		is.Verify(bogus)
	}
	time.Sleep(100 * time.Millisecond)
	if got := ti.fetches.Load() - before; got > 1 {
		t.Fatalf("%d fetches within MinRefetch for an unknown kid, want at most 1", got)
	}
}
