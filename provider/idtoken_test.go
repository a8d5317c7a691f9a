package provider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authgate/config"
	"authgate/store/memstore"
)

// forgingOIDC is an OpenID provider whose ID tokens the test bends (wrong
// audience, nonce, issuer, expiry, signature): the checks a real provider
// never lets one see fail.
type forgingOIDC struct {
	*httptest.Server
	key   *rsa.PrivateKey
	mu    sync.Mutex
	bend  func(claims jwt.MapClaims, nonce string) // edits the next ID token
	other *rsa.PrivateKey                          // signs instead of key when set
	nonce map[string]string                        // code → nonce of its request
}

func newForgingOIDC(t *testing.T) *forgingOIDC {
	f := &forgingOIDC{nonce: map[string]string{}}
	f.key, _ = rsa.GenerateKey(rand.Reader, 2048)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.URL, "authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token",
			"jwks_uri": f.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(f.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(f.key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		nonce := f.nonce[r.PostFormValue("code")]
		bend, signer := f.bend, f.key
		if f.other != nil {
			signer = f.other
		}
		f.mu.Unlock()
		claims := jwt.MapClaims{"iss": f.URL, "aud": "cid", "sub": "subj", "nonce": nonce,
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(),
			"email": "s@example.com", "email_verified": true}
		if bend != nil {
			bend(claims, nonce)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		raw, _ := tok.SignedString(signer)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "bearer", "id_token": raw})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func TestIDTokenChecks(t *testing.T) {
	f := newForgingOIDC(t)
	cfg := &config.Config{OneTimeTokens: config.OneTimeTokens{OAuthStateTTL: time.Minute}, Providers: []config.Provider{{
		Name: "forge", Type: "oidc", DisplayName: "Forge", Issuer: f.URL, ClientID: "cid", ClientSecret: "s",
		RedirectURL: "https://gw.example/auth/oauth/forge/callback", Scopes: []string{"openid"}, AllowedScopes: []string{"openid"},
		Claims:       config.ProviderClaims{Subject: "sub", Email: "email", EmailVerified: "email_verified", Username: "preferred_username", Name: "name", Groups: "groups"},
		AllowSignup:  true,
		DefaultRoles: []string{"user"},
	}}}
	svc, err := New(cfg, memstore.New(), Options{NewUserID: func() string { return "u-" + randHex()[:8] }})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name  string
		bend  func(c jwt.MapClaims, nonce string)
		other bool
		want  Kind
	}{
		{"a good token", nil, false, 0},
		{"wrong audience", func(c jwt.MapClaims, _ string) { c["aud"] = "someone-else" }, false, KindToken},
		{"audience list without us", func(c jwt.MapClaims, _ string) { c["aud"] = []string{"x", "y"} }, false, KindToken},
		{"wrong nonce", func(c jwt.MapClaims, _ string) { c["nonce"] = "replayed-nonce" }, false, KindToken},
		{"no nonce", func(c jwt.MapClaims, _ string) { delete(c, "nonce") }, false, KindToken},
		{"wrong issuer", func(c jwt.MapClaims, _ string) { c["iss"] = "https://evil.example" }, false, KindToken},
		{"expired", func(c jwt.MapClaims, _ string) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, false, KindToken},
		{"signed by another key", nil, true, KindToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := svc.Start(context.Background(), "forge", Begin{})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(st.URL)
			code := randHex()
			f.mu.Lock()
			f.nonce[code] = u.Query().Get("nonce")
			f.bend = tc.bend
			f.other = nil
			if tc.other {
				f.other = otherKey
			}
			f.mu.Unlock()
			if u.Query().Get("nonce") == "" {
				t.Fatal("authorization URL has no nonce")
			}
			_, err = svc.Finish(context.Background(), "forge", Callback{State: u.Query().Get("state"), Code: code, Binding: st.Binding})
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("good token refused: %v", err)
				}
				return
			}
			wantKind(t, err, tc.want)
		})
	}
}
