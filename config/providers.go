package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Provider is an external identity provider people can sign in through
// (providers[i]). The gateway serves, for each, GET
// <routes.oauth>/<name>/authorize and GET <routes.oauth>/<name>/callback.
type Provider struct {
	// Name identifies the provider in routes and account links: lower-case
	// letters, digits, '-' and '_'. Renaming it orphans the links made
	// under the old name.
	Name string `yaml:"name"`
	// Type is "oidc" (OpenID Connect: discovery, ID token) or "oauth2"
	// (plain OAuth2 with a user-info endpoint, such as GitHub).
	Type string `yaml:"type"`
	// DisplayName is shown on the sign-in button. Default: Name.
	DisplayName string `yaml:"display_name"`
	// Issuer is the OpenID issuer URL (oidc only); discovery reads
	// <issuer>/.well-known/openid-configuration, which must name the same
	// issuer.
	Issuer string `yaml:"issuer"`
	// AuthURL, TokenURL and UserInfoURL are the endpoints of an oauth2
	// provider (all three required). For oidc they come from discovery.
	AuthURL     string `yaml:"auth_url"`
	TokenURL    string `yaml:"token_url"`
	UserInfoURL string `yaml:"userinfo_url"`
	// ClientID and the client secret registered with the provider. Give the
	// secret as ${ENV} or with ClientSecretFile.
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is the callback URL registered with the provider: the
	// public URL of <routes.oauth>/<name>/callback. Required.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes requested. Default for oidc: openid, email, profile (openid
	// is required); for oauth2: none.
	Scopes []string `yaml:"scopes"`
	// AllowedScopes are the scopes an API client may ask for with the
	// authorize route's `scopes` query. Default: Scopes.
	AllowedScopes []string `yaml:"allowed_scopes"`
	// Claims names the fields of the ID token (oidc) or of the user-info
	// answer (oauth2) that authgate reads.
	Claims ProviderClaims `yaml:"claims"`
	// LinkByEmail links a sign-in to the local user with the same email,
	// but only when the provider asserts the email is verified. Default
	// false: a provider account is linked only when it signs up or is
	// linked by its user.
	LinkByEmail bool `yaml:"link_by_email"`
	// AllowSignup creates a local user on the first sign-in of a provider
	// account that is not linked. Default false.
	AllowSignup bool `yaml:"allow_signup"`
	// DefaultRoles are the roles of users created through this provider.
	// Default: users.default_roles.
	DefaultRoles []string `yaml:"default_roles"`
	// RoleMap maps values of the groups claim to authgate roles. At every
	// sign-in, the roles the map can grant are set to what the provider
	// asserts now (added or removed); other roles are left alone.
	RoleMap map[string][]string `yaml:"role_map"`
}

// ProviderClaims names claim fields. Defaults for oidc: sub, email,
// email_verified, preferred_username, name, groups; for oauth2: id, email,
// email_verified, login, name, groups. A field the provider does not send
// is empty; an email without a true email_verified is unverified.
type ProviderClaims struct {
	Subject       string `yaml:"subject"`
	Email         string `yaml:"email"`
	EmailVerified string `yaml:"email_verified"`
	Username      string `yaml:"username"`
	Name          string `yaml:"name"`
	Groups        string `yaml:"groups"`
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

func applyProviderDefaults(c *Config) {
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.DisplayName == "" {
			p.DisplayName = p.Name
		}
		cl := &p.Claims
		if p.Type == "oauth2" {
			cl.Subject = or(cl.Subject, "id")
			cl.Username = or(cl.Username, "login")
		} else {
			cl.Subject = or(cl.Subject, "sub")
			cl.Username = or(cl.Username, "preferred_username")
			if p.Scopes == nil {
				p.Scopes = []string{"openid", "email", "profile"}
			}
		}
		cl.Email = or(cl.Email, "email")
		cl.EmailVerified = or(cl.EmailVerified, "email_verified")
		cl.Name = or(cl.Name, "name")
		cl.Groups = or(cl.Groups, "groups")
		if p.AllowedScopes == nil {
			p.AllowedScopes = slices.Clone(p.Scopes)
		}
		if p.DefaultRoles == nil {
			p.DefaultRoles = slices.Clone(c.Users.DefaultRoles)
		}
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func validateProviders(v *problemList, c *Config) {
	seen := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		path := indexPath("providers", i)
		if !providerName.MatchString(p.Name) {
			v.add(path+".name", fmt.Sprintf("%q: use 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter or digit", p.Name))
		} else if seen[p.Name] {
			v.add(path+".name", fmt.Sprintf("%q is used by another provider", p.Name))
		}
		seen[p.Name] = true
		switch p.Type {
		case "oidc":
			checkProviderURL(v, path+".issuer", p.Issuer, true)
			for _, f := range []struct{ name, val string }{{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"userinfo_url", p.UserInfoURL}} {
				if f.val != "" {
					v.add(path+"."+f.name, "only for type oauth2 (an oidc provider's endpoints come from discovery)")
				}
			}
			if !slices.Contains(p.Scopes, "openid") {
				v.add(path+".scopes", `must include "openid" for an oidc provider`)
			}
		case "oauth2":
			if p.Issuer != "" {
				v.add(path+".issuer", "only for type oidc")
			}
			checkProviderURL(v, path+".auth_url", p.AuthURL, true)
			checkProviderURL(v, path+".token_url", p.TokenURL, true)
			checkProviderURL(v, path+".userinfo_url", p.UserInfoURL, true)
		default:
			v.add(path+".type", fmt.Sprintf("must be one of oidc, oauth2 (got %q)", p.Type))
		}
		if p.ClientID == "" {
			v.add(path+".client_id", "required")
		}
		if p.ClientSecret == "" {
			v.add(path+".client_secret", "required (give it as ${ENV} or with client_secret_file)")
		}
		if checkProviderURL(v, path+".redirect_url", p.RedirectURL, true) {
			want := strings.TrimSuffix(c.Routes.OAuth, "/") + "/" + p.Name + "/callback"
			if u, _ := url.Parse(p.RedirectURL); u.Path != want || u.RawQuery != "" || u.Fragment != "" {
				v.add(path+".redirect_url", fmt.Sprintf("must be this gateway's callback route for the provider: a URL with path %s and no query", want))
			}
		}
		for j, s := range p.Scopes {
			if !isScope(s) {
				v.add(indexPath(path+".scopes", j), fmt.Sprintf("invalid scope %q", s))
			}
		}
		for j, s := range p.AllowedScopes {
			if !isScope(s) {
				v.add(indexPath(path+".allowed_scopes", j), fmt.Sprintf("invalid scope %q", s))
			}
		}
		checkRoles(v, path+".default_roles", p.DefaultRoles)
		for _, g := range sortedKeys(p.RoleMap) {
			if g == "" {
				v.add(path+".role_map", "a group name is empty")
				continue
			}
			checkRoles(v, path+".role_map."+g, p.RoleMap[g])
		}
		cl := p.Claims
		for _, f := range []struct{ name, val string }{{"subject", cl.Subject}, {"email", cl.Email},
			{"email_verified", cl.EmailVerified}, {"username", cl.Username}, {"name", cl.Name}, {"groups", cl.Groups}} {
			if strings.TrimSpace(f.val) != f.val || strings.ContainsAny(f.val, "\x00") {
				v.add(path+".claims."+f.name, fmt.Sprintf("invalid claim name %q", f.val))
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isScope reports whether s is an RFC 6749 scope token.
func isScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// checkProviderURL adds a problem unless raw is an absolute http(s) URL
// without userinfo; plain http is allowed only for loopback hosts (a test
// provider), as anything else would send codes and tokens in clear.
func checkProviderURL(v *problemList, path, raw string, required bool) bool {
	if raw == "" {
		if required {
			v.add(path, "required")
		}
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		v.add(path, fmt.Sprintf("%q: need an absolute https URL", raw))
		return false
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		v.add(path, fmt.Sprintf("%q: use https (plain http only for loopback addresses)", raw))
		return false
	}
	return true
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// TrustedIssuer is an external token issuer (tokens.trusted_issuers[i]).
type TrustedIssuer struct {
	// Name prefixes the subject in the user-id identity header
	// ("<name>:<sub>"), so an external subject can never pass for a local
	// user's ID. Lower-case letters, digits, '-' and '_'.
	Name string `yaml:"name"`
	// Issuer is the exact `iss` the tokens carry.
	Issuer string `yaml:"issuer"`
	// JWKSURL is where the issuer publishes its keys. Default: the
	// jwks_uri of <issuer>/.well-known/openid-configuration.
	JWKSURL string `yaml:"jwks_url"`
	// Audience: a token must name one of them in `aud`. Required.
	Audience []string `yaml:"audience"`
	// Algorithms the issuer signs with (RS256, RS384, RS512, PS256, PS384,
	// PS512, ES256, ES384, EdDSA). Required: the algorithm is pinned.
	Algorithms []string `yaml:"algorithms"`
	// Claims naming the subject, name, email and roles. Defaults: sub,
	// preferred_username, email, roles.
	Claims IssuerClaims `yaml:"claims"`
	// AllowedRoles are the roles a token of this issuer may carry into the
	// gateway; others are dropped. Default: none (the tokens carry no
	// roles), so an external issuer cannot grant itself admin.
	AllowedRoles []string `yaml:"allowed_roles"`
	// Refresh is how often the keys are fetched again. Default 10m.
	Refresh time.Duration `yaml:"refresh"`
}

// IssuerClaims names claims of an external token.
type IssuerClaims struct {
	Subject string `yaml:"subject"`
	Name    string `yaml:"name"`
	Email   string `yaml:"email"`
	Roles   string `yaml:"roles"`
}

var issuerAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}

func applyIssuerDefaults(t *Tokens) {
	for i := range t.TrustedIssuers {
		ti := &t.TrustedIssuers[i]
		ti.Claims.Subject = or(ti.Claims.Subject, "sub")
		ti.Claims.Name = or(ti.Claims.Name, "preferred_username")
		ti.Claims.Email = or(ti.Claims.Email, "email")
		ti.Claims.Roles = or(ti.Claims.Roles, "roles")
		if ti.Refresh == 0 {
			ti.Refresh = 10 * time.Minute
		}
	}
}

func validateIssuers(v *problemList, t *Tokens) {
	seen := map[string]bool{}
	for i := range t.TrustedIssuers {
		ti := &t.TrustedIssuers[i]
		path := indexPath("tokens.trusted_issuers", i)
		if !providerName.MatchString(ti.Name) {
			v.add(path+".name", fmt.Sprintf("%q: use 1 to 32 lower-case letters, digits, '-' or '_'", ti.Name))
		} else if seen["n:"+ti.Name] {
			v.add(path+".name", fmt.Sprintf("%q is used by another issuer", ti.Name))
		}
		seen["n:"+ti.Name] = true
		if checkProviderURL(v, path+".issuer", ti.Issuer, true) {
			if ti.Issuer == t.Issuer {
				v.add(path+".issuer", "is this gateway's own issuer")
			} else if seen["i:"+ti.Issuer] {
				v.add(path+".issuer", "is listed twice")
			}
			seen["i:"+ti.Issuer] = true
		}
		checkProviderURL(v, path+".jwks_url", ti.JWKSURL, false)
		if len(ti.Audience) == 0 {
			v.add(path+".audience", "required: a token must be meant for this gateway")
		}
		for j, a := range ti.Audience {
			if a == "" {
				v.add(indexPath(path+".audience", j), "must not be empty")
			}
		}
		if len(ti.Algorithms) == 0 {
			v.add(path+".algorithms", "required: pin the algorithms the issuer signs with")
		}
		for j, a := range ti.Algorithms {
			if !slices.Contains(issuerAlgorithms, a) {
				v.add(indexPath(path+".algorithms", j), fmt.Sprintf("must be one of %s (got %q)", strings.Join(issuerAlgorithms, ", "), a))
			}
		}
		checkRoles(v, path+".allowed_roles", ti.AllowedRoles)
		if ti.Refresh < time.Minute || ti.Refresh > 24*time.Hour {
			v.add(path+".refresh", "must be from 1m to 24h")
		}
	}
}
