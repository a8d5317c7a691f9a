package gateway

import (
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"authgate/internal/hydratest"
)

// providerEnv is a gateway listening on a real loopback port, with a real
// OpenID provider (Ory Hydra) configured as "hydra".
type providerEnv struct {
	*testEnv
	hydra *hydratest.Hydra
	base  string // the gateway's URL
}

func newProviderEnv(t *testing.T, providerYAML string) *providerEnv {
	t.Helper()
	hy := hydratest.Start(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	id, secret := hy.Client(base + "/auth/oauth/hydra/callback")
	e := newEnv(t, func(y string) string {
		return y + `transport:
  cookies: {enabled: true, secure: false}
browser:
  enabled: true
  return_hosts: ["127.0.0.1:` + port + `"]
providers:
  - name: hydra
    type: oidc
    display_name: Hydra
    issuer: ` + hy.Issuer + `
    client_id: ` + id + `
    client_secret: ` + secret + `
    redirect_url: ` + base + `/auth/oauth/hydra/callback
` + providerYAML
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.g.App().Listener(ln) }()
	t.Cleanup(func() { _ = e.g.App().Shutdown() })
	return &providerEnv{testEnv: e, hydra: hy, base: base}
}

func browse(t *testing.T, b *hydratest.Browser, target string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

func problemSlug(t *testing.T, body []byte) string {
	t.Helper()
	var p struct{ Type string }
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem document: %s", body)
	}
	return strings.TrimPrefix(p.Type, "urn:authgate:problem:")
}

// echoed returns the identity headers the upstream received.
func echoHeaders(t *testing.T, body []byte) http.Header {
	t.Helper()
	var e struct{ Headers map[string][]string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an echo: %s", body)
	}
	return http.Header(e.Headers)
}

func TestProviderSignInThroughTheGateway(t *testing.T) {
	e := newProviderEnv(t, "    allow_signup: true\n    link_by_email: true\n    role_map: {admins: [admin]}\n")
	alice := e.addUser("alice", "alice-password-1", "user") // alice@example.com, verified

	t.Run("API client: authorization_url, provider, callback, token pair, proxied request", func(t *testing.T) {
		b := hydratest.NewBrowser()
		res, body := browse(t, b, e.base+"/auth/oauth/hydra/authorize?scopes=openid&scopes=email", "Accept", "application/json")
		var out struct {
			AuthorizationURL string `json:"authorization_url"`
		}
		if res.StatusCode != 200 || json.Unmarshal(body, &out) != nil || !strings.HasPrefix(out.AuthorizationURL, e.hydra.Issuer) {
			t.Fatalf("authorize: %d %s", res.StatusCode, body)
		}
		if u, _ := url.Parse(out.AuthorizationURL); u.Query().Get("scope") != "openid email" || u.Query().Get("code_challenge_method") != "S256" {
			t.Fatalf("authorization URL %s", out.AuthorizationURL)
		}
		e.hydra.Next(hydratest.Person{Subject: "hy-1", Email: "new.person@example.com", EmailVerified: true, Username: "newperson", Groups: []string{"admins"}})
		cb, err := b.FollowUntil(out.AuthorizationURL, e.base+"/auth/oauth/hydra/callback")
		if err != nil {
			t.Fatal(err)
		}
		res, body = browse(t, b, cb)
		var pair struct{ AccessToken, RefreshToken string }
		if res.StatusCode != 200 || json.Unmarshal(body, &struct {
			A *string `json:"access_token"`
			R *string `json:"refresh_token"`
		}{&pair.AccessToken, &pair.RefreshToken}) != nil || pair.AccessToken == "" || pair.RefreshToken == "" {
			t.Fatalf("callback: %d %s", res.StatusCode, body)
		}
		// The session is an ordinary one: the proxied request carries the
		// new user's identity and the mapped role.
		r := e.do("GET", "/admin/x", "", bearer(pair.AccessToken)...)
		if r.status != 200 {
			t.Fatalf("proxied /admin with the provider session: %d %s", r.status, r.body)
		}
		h := echoHeaders(t, r.body)
		if h.Get("X-User-Name") != "newperson" || !strings.Contains(h.Get("X-User-Roles"), "admin") || h.Get("X-User-Id") == "" {
			t.Fatalf("identity headers upstream: %v", h)
		}
		// Replaying the callback is refused.
		res, body = browse(t, b, cb)
		if res.StatusCode != 400 || problemSlug(t, body) != "oauth-state" {
			t.Fatalf("replayed callback: %d %s", res.StatusCode, body)
		}
		// And the same refresh rotation and revocation as any session.
		r = e.do("POST", "/logout", "", bearer(pair.AccessToken)...)
		if r.status != 204 {
			t.Fatalf("logout: %d", r.status)
		}
		if r = e.do("GET", "/api/x", "", bearer(pair.AccessToken)...); r.status != 401 {
			t.Fatalf("after logout: %d", r.status)
		}
	})

	t.Run("browser: 302 to the provider, cookies and 302 to the return address", func(t *testing.T) {
		b := hydratest.NewBrowser()
		nav := []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}
		res, _ := browse(t, b, e.base+"/auth/oauth/hydra/authorize?return_to="+url.QueryEscape(e.base+"/api/landing"), nav...)
		if res.StatusCode != 302 || !strings.HasPrefix(res.Header.Get("Location"), e.hydra.Issuer) {
			t.Fatalf("authorize for a browser: %d %v", res.StatusCode, res.Header)
		}
		e.hydra.Next(hydratest.Person{Subject: "hy-alice", Email: "alice@example.com", EmailVerified: true})
		cb, err := b.FollowUntil(res.Header.Get("Location"), e.base+"/auth/oauth/hydra/callback")
		if err != nil {
			t.Fatal(err)
		}
		res, body := browse(t, b, cb, nav...)
		if res.StatusCode != 302 || res.Header.Get("Location") != e.base+"/api/landing" {
			t.Fatalf("callback for a browser: %d %v %s", res.StatusCode, res.Header, body)
		}
		// Linked to the existing alice by verified email, signed in by
		// cookie: the proxied request carries alice's identity.
		res, body = browse(t, b, e.base+"/api/landing")
		if res.StatusCode != 200 || echoHeaders(t, body).Get("X-User-Id") != alice.ID {
			t.Fatalf("proxied with the session cookie: %d %s", res.StatusCode, body)
		}
	})

	t.Run("the sign-in page's button leads through the provider back to the page asked for", func(t *testing.T) {
		b := hydratest.NewBrowser()
		nav := []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}
		// A navigation to a protected page without a session goes to the
		// sign-in page, which offers the provider.
		res, _ := browse(t, b, e.base+"/api/wanted?x=1", nav...)
		if res.StatusCode != 302 {
			t.Fatalf("protected navigation: %d", res.StatusCode)
		}
		res, body := browse(t, b, e.base+res.Header.Get("Location"), nav...)
		m := regexp.MustCompile(`<a class="provider" href="([^"]+)">Sign in with Hydra</a>`).FindSubmatch(body)
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("sign-in page %d without the provider button:\n%s", res.StatusCode, body)
		}
		href := html.UnescapeString(string(m[1]))
		res, _ = browse(t, b, e.base+href, nav...)
		if res.StatusCode != 302 {
			t.Fatalf("button %s: %d", href, res.StatusCode)
		}
		e.hydra.Next(hydratest.Person{Subject: "hy-button", Email: "button@example.com", EmailVerified: true, Username: "buttonuser"})
		cb, err := b.FollowUntil(res.Header.Get("Location"), e.base+"/auth/oauth/hydra/callback")
		if err != nil {
			t.Fatal(err)
		}
		res, _ = browse(t, b, cb, nav...)
		if loc := res.Header.Get("Location"); res.StatusCode != 302 || loc != "/api/wanted?x=1" {
			t.Fatalf("after the callback: %d to %q, want the page asked for", res.StatusCode, loc)
		}
		res, body = browse(t, b, e.base+"/api/wanted?x=1", nav...)
		if res.StatusCode != 200 || echoHeaders(t, body).Get("X-User-Name") != "buttonuser" {
			t.Fatalf("the page asked for: %d %s", res.StatusCode, body)
		}
	})

	t.Run("open redirect after the callback falls back to the default", func(t *testing.T) {
		b := hydratest.NewBrowser()
		nav := []string{"Sec-Fetch-Mode", "navigate"}
		res, _ := browse(t, b, e.base+"/auth/oauth/hydra/authorize?return_to="+url.QueryEscape("https://evil.example/steal"), nav...)
		e.hydra.Next(hydratest.Person{Subject: "hy-1", Email: "new.person@example.com", EmailVerified: true})
		cb, err := b.FollowUntil(res.Header.Get("Location"), e.base+"/auth/oauth/hydra/callback")
		if err != nil {
			t.Fatal(err)
		}
		res, _ = browse(t, b, cb, nav...)
		if loc := res.Header.Get("Location"); res.StatusCode != 302 || strings.Contains(loc, "evil") {
			t.Fatalf("callback went to %q", loc)
		}
	})

	t.Run("refusals are problem documents", func(t *testing.T) {
		tests := []struct {
			name   string
			person hydratest.Person
			tamper func(cb string) string
			b      func() *hydratest.Browser // the browser that calls back
			status int
			slug   string
		}{
			{"denied consent", hydratest.Person{Subject: "hy-deny", Deny: true}, nil, nil, 401, "oauth-denied"},
			{"unverified email of an existing account", hydratest.Person{Subject: "hy-mallory", Email: "alice@example.com"}, nil, nil, 403, "oauth-email-unverified"},
			{"callback in another browser (login CSRF)", hydratest.Person{Subject: "hy-2", Email: "x@example.com", EmailVerified: true}, nil, hydratest.NewBrowser, 400, "oauth-state"},
			{"forged state", hydratest.Person{Subject: "hy-3"}, func(cb string) string { return strings.Replace(cb, "state=", "state=x", 1) }, nil, 400, "oauth-state"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := hydratest.NewBrowser()
				res, body := browse(t, b, e.base+"/auth/oauth/hydra/authorize", "Accept", "application/json")
				var out struct {
					URL string `json:"authorization_url"`
				}
				if err := json.Unmarshal(body, &out); err != nil || res.StatusCode != 200 {
					t.Fatalf("authorize %d %s", res.StatusCode, body)
				}
				e.hydra.Next(tc.person)
				cb, err := b.FollowUntil(out.URL, e.base+"/auth/oauth/hydra/callback")
				if err != nil {
					t.Fatal(err)
				}
				if tc.tamper != nil {
					cb = tc.tamper(cb)
				}
				caller := b
				if tc.b != nil {
					caller = tc.b()
				}
				res, body = browse(t, caller, cb)
				if res.StatusCode != tc.status || problemSlug(t, body) != tc.slug {
					t.Fatalf("got %d %s, want %d %s", res.StatusCode, body, tc.status, tc.slug)
				}
			})
		}
	})

	t.Run("a provider-made account has no password", func(t *testing.T) {
		r := e.do("POST", "/auth", `{"username":"newperson","password":""}`)
		if r.status != 400 {
			t.Fatalf("empty password: %d", r.status)
		}
		r = e.do("POST", "/auth", `{"username":"newperson","password":"anything-at-all"}`)
		if r.status != 401 || r.problemType(t) != "invalid-credentials" {
			t.Fatalf("password sign-in of a provider-made account: %d %s", r.status, r.body)
		}
	})
}

// A provider sign-in of an account with a second factor, in a browser,
// goes to the second-step page (returning to the address asked for)
// instead of straight to an address it could not use yet.
func TestProviderSignInOfAnAccountWithASecondFactorGoesToTheSecondStep(t *testing.T) {
	e := newProviderEnv(t, "    link_by_email: true\nmfa:\n  enabled: true\n  encryption_key: \""+mfaKey+"\"\n")
	e.addUser("alice", "alice-password-1", "user")
	tok, _ := e.login("alice", "alice-password-1")
	r := e.do("POST", "/auth/mfa/totp", "", bearer(tok)...)
	secret := r.json(t)["secret"].(string)
	mustStatus(t, "confirm", e.do("POST", "/auth/mfa/totp/confirm", jsonBody("code", code(t, secret, time.Now())), bearer(tok)...), 200, "")

	b := hydratest.NewBrowser()
	nav := []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}
	res, _ := browse(t, b, e.base+"/auth/oauth/hydra/authorize?return_to="+url.QueryEscape("/api/landing"), nav...)
	e.hydra.Next(hydratest.Person{Subject: "hy-alice", Email: "alice@example.com", EmailVerified: true})
	cb, err := b.FollowUntil(res.Header.Get("Location"), e.base+"/auth/oauth/hydra/callback")
	if err != nil {
		t.Fatal(err)
	}
	res, body := browse(t, b, cb, nav...)
	if want := "/auth/ui/mfa?return_to=" + url.QueryEscape("/api/landing"); res.StatusCode != 302 || res.Header.Get("Location") != want {
		t.Fatalf("callback of an account with a second factor: %d %q %s, want 302 %q", res.StatusCode, res.Header.Get("Location"), body, want)
	}
}
