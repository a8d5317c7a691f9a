package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// A trusted external issuer's token on every kind of request: proxied and
// forward-auth pass with the issuer's identity; own routes refuse it.
func TestTrustedIssuerTokensThroughTheGateway(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	iss := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "svc-1", Use: "sig"}}})
	}))
	t.Cleanup(iss.Close)
	e := newEnv(t, func(y string) string {
		y = strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["0.0.0.0/32"]`, 1)
		return y + `tokens:
  trusted_issuers:
    - name: corp
      issuer: ` + iss.URL + `
      jwks_url: ` + iss.URL + `/keys
      audience: [authgate]
      algorithms: [EdDSA]
      allowed_roles: [admin]
`
	})
	deadline := time.Now().Add(5 * time.Second)
	for !e.g.issuers.Ready() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mintClaims := func(extra jwt.MapClaims, sub string, roles ...string) string {
		c := jwt.MapClaims{"iss": iss.URL, "aud": "authgate", "sub": sub,
			"exp": time.Now().Add(time.Minute).Unix(), "preferred_username": "deploy bot", "roles": roles}
		for k, v := range extra {
			c[k] = v
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = "svc-1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mint := func(sub string, roles ...string) string { return mintClaims(nil, sub, roles...) }
	// amr and auth_time as an OpenID provider sets them after its own MFA.
	mfa := func(amr []string, ago time.Duration) string {
		return mintClaims(jwt.MapClaims{"amr": amr, "auth_time": time.Now().Add(-ago).Unix()}, "deploy")
	}
	alice := e.addUser("alice", "alice-password-1", "user")
	tests := []struct {
		name    string
		method  string
		target  string
		token   string
		headers []string
		status  int
		userID  string // what the upstream (or forward-auth answer) names
	}{
		{"proxied with the issuer's identity", "GET", "/admin/x", mint("deploy", "admin", "superuser"), nil, 200, "corp:deploy"},
		{"a subject equal to a local user ID stays the issuer's", "GET", "/api/x", mint(alice.ID), nil, 200, "corp:" + alice.ID},
		{"roles beyond allowed_roles are dropped", "GET", "/admin/x", mint("deploy", "superuser"), nil, 403, ""},
		{"forward-auth", "GET", "/auth/verify", mint("deploy", "admin"), []string{"X-Original-Method", "GET", "X-Original-URI", "/admin/x"}, 200, "corp:deploy"},
		{"mfa rule met by the issuer's amr", "GET", "/secure/x", mfa([]string{"pwd", "mfa"}, time.Minute), nil, 200, "corp:deploy"},
		{"mfa rule, issuer's amr without a second factor", "GET", "/secure/x", mfa([]string{"pwd"}, time.Minute), nil, 401, ""},
		{"mfa rule, no amr", "GET", "/secure/x", mint("deploy"), nil, 401, ""},
		{"step-up met by the issuer's auth_time", "GET", "/stepup/x", mfa([]string{"otp"}, time.Minute), nil, 200, "corp:deploy"},
		{"step-up, the issuer's auth_time too old", "GET", "/stepup/x", mfa([]string{"otp"}, time.Hour), nil, 401, ""},
		{"forward-auth, mfa rule met", "GET", "/auth/verify", mfa([]string{"swk"}, time.Minute), []string{"X-Original-Method", "GET", "X-Original-URI", "/secure/x"}, 200, "corp:deploy"},
		{"not on own routes: /me", "GET", "/me", mint("deploy"), nil, 401, ""},
		{"not on own routes: logout", "POST", "/logout", mint("deploy"), nil, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.target, "", append(bearer(tc.token), tc.headers...)...)
			if r.status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.target, r.status, r.body, tc.status)
			}
			if tc.userID == "" {
				return
			}
			got := r.header.Get("X-User-Id")
			if tc.target != "/auth/verify" {
				got = echoed(t, r).Headers["X-User-Id"][0]
			}
			if got != tc.userID {
				t.Fatalf("X-User-Id %q, want %q", got, tc.userID)
			}
		})
	}
}
