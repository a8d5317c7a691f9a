package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const goodProvider = `
providers:
  - name: hydra
    type: oidc
    issuer: http://127.0.0.1:4444/
    client_id: authgate
    client_secret: ${SECRET}
    redirect_url: https://gw.example.com/auth/oauth/hydra/callback
    link_by_email: true
    role_map: {admins: [admin]}
  - name: github
    type: oauth2
    auth_url: https://github.com/login/oauth/authorize
    token_url: https://github.com/login/oauth/access_token
    userinfo_url: https://api.github.com/user
    client_id: abc
    client_secret_file: %s
    redirect_url: https://gw.example.com/auth/oauth/github/callback
    scopes: [read:user, user:email]
`

func TestProvidersLoadWithDefaults(t *testing.T) {
	secret := writeFile(t, "gh", "gh-secret\n")
	cfg, ps := loadProblems(t, strings.Replace(goodProvider, "%s", secret, 1), map[string]string{"SECRET": "s3cret"})
	if ps != nil {
		t.Fatalf("problems: %v", ps)
	}
	h, g := cfg.Providers[0], cfg.Providers[1]
	if h.ClientSecret != "s3cret" || g.ClientSecret != "gh-secret" {
		t.Errorf("secrets %q, %q", h.ClientSecret, g.ClientSecret)
	}
	if !slices.Equal(h.Scopes, []string{"openid", "email", "profile"}) || !slices.Equal(h.AllowedScopes, h.Scopes) {
		t.Errorf("oidc scopes %v allowed %v", h.Scopes, h.AllowedScopes)
	}
	if h.Claims.Subject != "sub" || h.Claims.Username != "preferred_username" || g.Claims.Subject != "id" || g.Claims.Username != "login" {
		t.Errorf("claims %+v / %+v", h.Claims, g.Claims)
	}
	if h.DisplayName != "hydra" || !slices.Equal(h.DefaultRoles, cfg.Users.DefaultRoles) || h.AllowSignup {
		t.Errorf("defaults %+v", h)
	}
	if cfg.Routes.OAuth != "/auth/oauth" {
		t.Errorf("routes.oauth = %q", cfg.Routes.OAuth)
	}
}

func TestProviderProblemsNameTheField(t *testing.T) {
	base := func(extra string) string {
		return "providers:\n  - name: hydra\n    type: oidc\n    issuer: https://id.example.com\n    client_id: c\n    client_secret: ${S}\n    redirect_url: https://gw.example.com/auth/oauth/hydra/callback\n" + extra
	}
	tests := []struct {
		name, src, path, msg string
	}{
		{"bad name", strings.Replace(base(""), "name: hydra", "name: Hy/dra", 1), "providers[0].name", "lower-case letters"},
		{"duplicate name", base("  - name: hydra\n    type: oidc\n    issuer: https://x.example\n    client_id: c\n    client_secret: ${S}\n    redirect_url: https://gw.example.com/auth/oauth/hydra/callback\n"), "providers[1].name", "used by another provider"},
		{"unknown type", strings.Replace(base(""), "type: oidc", "type: saml", 1), "providers[0].type", "must be one of oidc, oauth2"},
		{"no issuer", strings.Replace(base(""), "issuer: https://id.example.com", "issuer: ''", 1), "providers[0].issuer", "required"},
		{"plain http issuer", strings.Replace(base(""), "https://id.example.com", "http://id.example.com", 1), "providers[0].issuer", "use https"},
		{"userinfo in issuer", strings.Replace(base(""), "https://id.example.com", "https://u:p@id.example.com", 1), "providers[0].issuer", "absolute https URL"},
		{"oidc without openid", base("    scopes: [email]\n"), "providers[0].scopes", `must include "openid"`},
		{"oauth2 endpoint on oidc", base("    token_url: https://x.example/token\n"), "providers[0].token_url", "only for type oauth2"},
		{"oauth2 needs endpoints", strings.Replace(strings.Replace(base(""), "type: oidc", "type: oauth2", 1), "    issuer: https://id.example.com\n", "", 1), "providers[0].userinfo_url", "required"},
		{"no client id", strings.Replace(base(""), "client_id: c", "client_id: ''", 1), "providers[0].client_id", "required"},
		{"no secret", strings.Replace(base(""), "client_secret: ${S}", "client_secret: ''", 1), "providers[0].client_secret", "required"},
		{"redirect elsewhere", strings.Replace(base(""), "/auth/oauth/hydra/callback", "/cb", 1), "providers[0].redirect_url", "callback route"},
		{"redirect with query", strings.Replace(base(""), "/hydra/callback", "/hydra/callback?x=1", 1), "providers[0].redirect_url", "no query"},
		{"bad scope", base("    scopes: [openid, 'a b']\n"), "providers[0].scopes[1]", "invalid scope"},
		{"bad role", base("    role_map: {admins: ['has space']}\n"), "providers[0].role_map.admins[0]", "must not contain spaces"},
		{"bad state ttl", base("one_time_tokens: {oauth_state_ttl: -1s}\n"), "one_time_tokens.oauth_state_ttl", "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := loadProblems(t, tc.src, map[string]string{"S": "x"})
			if _, ok := findProblem(ps, tc.path, tc.msg); !ok {
				t.Fatalf("no problem at %s containing %q; got %v", tc.path, tc.msg, ps)
			}
		})
	}
}

func TestInlineClientSecretIsWarnedAbout(t *testing.T) {
	src := "providers:\n  - name: h\n    type: oidc\n    issuer: https://id.example.com\n    client_id: c\n    client_secret: inline\n    redirect_url: https://gw.example.com/auth/oauth/h/callback\n"
	cfg, ps := loadProblems(t, src, nil)
	if ps != nil {
		t.Fatalf("problems: %v", ps)
	}
	if _, ok := findProblem(cfg.Warnings(), "providers[0].client_secret", "secret written inline"); !ok {
		t.Fatalf("no inline-secret warning: %v", cfg.Warnings())
	}
}

func TestTrustedIssuerProblems(t *testing.T) {
	base := "tokens:\n  trusted_issuers:\n    - name: corp\n      issuer: https://id.example.com\n      audience: [authgate]\n      algorithms: [RS256]\n"
	cfg, ps := loadProblems(t, base, nil)
	if ps != nil {
		t.Fatalf("good issuer: %v", ps)
	}
	if ti := cfg.Tokens.TrustedIssuers[0]; ti.Claims.Subject != "sub" || ti.Claims.Roles != "roles" || ti.Refresh != 10*time.Minute || ti.AllowedRoles != nil {
		t.Fatalf("defaults %+v", ti)
	}
	tests := []struct{ name, src, path, msg string }{
		{"no audience", strings.Replace(base, "      audience: [authgate]\n", "", 1), "tokens.trusted_issuers[0].audience", "required"},
		{"no algorithms", strings.Replace(base, "      algorithms: [RS256]\n", "", 1), "tokens.trusted_issuers[0].algorithms", "required"},
		{"HS256 cannot be pinned", strings.Replace(base, "[RS256]", "[HS256]", 1), "tokens.trusted_issuers[0].algorithms[0]", "must be one of"},
		{"none cannot be pinned", strings.Replace(base, "[RS256]", "[none]", 1), "tokens.trusted_issuers[0].algorithms[0]", "must be one of"},
		{"own issuer", strings.Replace(base, "https://id.example.com", "authgate", 1), "tokens.trusted_issuers[0].issuer", "absolute https URL"},
		{"http issuer", strings.Replace(base, "https://id.example.com", "http://id.example.com", 1), "tokens.trusted_issuers[0].issuer", "use https"},
		{"bad name", strings.Replace(base, "name: corp", "name: Corp!", 1), "tokens.trusted_issuers[0].name", "lower-case"},
		{"refresh too short", base + "      refresh: 1s\n", "tokens.trusted_issuers[0].refresh", "from 1m to 24h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := loadProblems(t, tc.src, nil)
			if _, ok := findProblem(ps, tc.path, tc.msg); !ok {
				t.Fatalf("no problem at %s containing %q; got %v", tc.path, tc.msg, ps)
			}
		})
	}
}
