package provider

import (
	"context"
	"net/url"
	"testing"
	"time"

	"authgate/config"
	"authgate/internal/hydratest"
	"authgate/store"
	"authgate/store/memstore"
)

// The OpenID Connect side against a real provider, Ory Hydra, on loopback.

const hydraCallback = "http://127.0.0.1:9/auth/oauth/hydra/callback"

type hydraHarness struct {
	hydra *hydratest.Hydra
	svc   *Service
	st    *memstore.Store
}

func newHydraHarness(t *testing.T, hy *hydratest.Hydra, mod func(*config.Provider)) *hydraHarness {
	t.Helper()
	id, secret := hy.Client(hydraCallback)
	p := config.Provider{
		Name: "hydra", Type: "oidc", DisplayName: "Hydra", Issuer: hy.Issuer,
		ClientID: id, ClientSecret: secret, RedirectURL: hydraCallback,
		Scopes: []string{"openid", "email", "profile"}, AllowedScopes: []string{"openid", "email", "profile"},
		Claims: config.ProviderClaims{Subject: "sub", Email: "email", EmailVerified: "email_verified",
			Username: "preferred_username", Name: "name", Groups: "groups"},
		DefaultRoles: []string{"user"},
	}
	if mod != nil {
		mod(&p)
	}
	h := &hydraHarness{hydra: hy, st: memstore.New()}
	cfg := &config.Config{OneTimeTokens: config.OneTimeTokens{OAuthStateTTL: time.Minute}, Providers: []config.Provider{p}}
	var err error
	h.svc, err = New(cfg, h.st, Options{NewUserID: func() string { return "u-" + randHex()[:10] }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// run signs in at Hydra as p and returns the callback's query and the
// flow's binding.
func (h *hydraHarness) run(t *testing.T, p hydratest.Person) (url.Values, string) {
	t.Helper()
	h.hydra.Next(p)
	st, err := h.svc.Start(context.Background(), "hydra", Begin{Browser: true, ReturnTo: "/dash"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	cb, err := hydratest.NewBrowser().FollowUntil(st.URL, hydraCallback)
	if err != nil {
		t.Fatalf("at the provider: %v", err)
	}
	u, _ := url.Parse(cb)
	return u.Query(), st.Binding
}

func (h *hydraHarness) finish(q url.Values, binding string) (Result, error) {
	return h.svc.Finish(context.Background(), "hydra", Callback{State: q.Get("state"), Code: q.Get("code"),
		Error: q.Get("error"), Issuer: q.Get("iss"), Binding: binding})
}

func TestHydraOpenIDConnect(t *testing.T) {
	hy := hydratest.Start(t)
	ctx := context.Background()

	t.Run("sign-up, then sign-in by link", func(t *testing.T) {
		h := newHydraHarness(t, hy, func(p *config.Provider) { p.AllowSignup = true })
		q, b := h.run(t, hydratest.Person{Subject: "sub-new", Email: "new@example.com", EmailVerified: true, Username: "newbie"})
		r, err := h.finish(q, b)
		if err != nil {
			t.Fatalf("callback: %v", err)
		}
		if !r.Created || r.User.Username != "newbie" || r.User.Email != "new@example.com" || r.ReturnTo != "/dash" {
			t.Fatalf("result %+v", r)
		}
		q, b = h.run(t, hydratest.Person{Subject: "sub-new", Email: "changed@example.com", EmailVerified: true})
		r2, err := h.finish(q, b)
		if err != nil || r2.User.ID != r.User.ID || r2.Created {
			t.Fatalf("second sign-in: %+v %v", r2, err)
		}
	})
	t.Run("verified email links to the local user", func(t *testing.T) {
		h := newHydraHarness(t, hy, func(p *config.Provider) { p.LinkByEmail = true })
		local := addUser(t, h.st, store.User{ID: "local-a", Username: "alice", Email: "alice@example.com", EmailVerified: true, PasswordHash: "x"})
		q, b := h.run(t, hydratest.Person{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true})
		r, err := h.finish(q, b)
		if err != nil || r.User.ID != local.ID || !r.Linked {
			t.Fatalf("link: %+v %v", r, err)
		}
		if uid, err := h.st.IdentityUser(ctx, "hydra", "sub-alice"); err != nil || uid != local.ID {
			t.Fatalf("stored link %q %v", uid, err)
		}
	})
	t.Run("unverified email is refused", func(t *testing.T) {
		h := newHydraHarness(t, hy, func(p *config.Provider) { p.LinkByEmail, p.AllowSignup = true, true })
		addUser(t, h.st, store.User{ID: "local-b", Username: "bob", Email: "bob@example.com", EmailVerified: true})
		q, b := h.run(t, hydratest.Person{Subject: "sub-mallory", Email: "bob@example.com", EmailVerified: false})
		_, err := h.finish(q, b)
		wantKind(t, err, KindEmailUnverified)
	})
	t.Run("sign-up off", func(t *testing.T) {
		h := newHydraHarness(t, hy, nil)
		q, b := h.run(t, hydratest.Person{Subject: "sub-x", Email: "x@example.com", EmailVerified: true})
		_, err := h.finish(q, b)
		wantKind(t, err, KindSignupClosed)
	})
	t.Run("denied consent", func(t *testing.T) {
		h := newHydraHarness(t, hy, func(p *config.Provider) { p.AllowSignup = true })
		q, b := h.run(t, hydratest.Person{Subject: "sub-d", Deny: true})
		if q.Get("error") != "access_denied" {
			t.Fatalf("callback query %v", q)
		}
		_, err := h.finish(q, b)
		wantKind(t, err, KindDenied)
	})
	t.Run("replayed state and replayed code", func(t *testing.T) {
		h := newHydraHarness(t, hy, func(p *config.Provider) { p.AllowSignup = true })
		q, b := h.run(t, hydratest.Person{Subject: "sub-r", Email: "r@example.com", EmailVerified: true})
		if _, err := h.finish(q, b); err != nil {
			t.Fatal(err)
		}
		_, err := h.finish(q, b)
		wantKind(t, err, KindState)
		// the spent code with a fresh, valid flow: Hydra refuses it (and
		// its PKCE verifier is another flow's)
		q2, b2 := h.run(t, hydratest.Person{Subject: "sub-r", Email: "r@example.com", EmailVerified: true})
		q2.Set("code", q.Get("code"))
		_, err = h.finish(q2, b2)
		wantKind(t, err, KindCode)
	})
	t.Run("a code from another flow (code injection) fails PKCE", func(t *testing.T) {
		h := newHydraHarness(t, hy, func(p *config.Provider) { p.AllowSignup = true })
		victim, vb := h.run(t, hydratest.Person{Subject: "sub-v", Email: "v@example.com", EmailVerified: true})
		attacker, _ := h.run(t, hydratest.Person{Subject: "sub-attacker", Email: "a@example.com", EmailVerified: true})
		victim.Set("code", attacker.Get("code"))
		_, err := h.finish(victim, vb)
		wantKind(t, err, KindCode)
	})
	t.Run("a client that is not the ID token's audience", func(t *testing.T) {
		// Two clients at the same provider: a code issued to client A
		// cannot be redeemed by a gateway configured as client B.
		a := newHydraHarness(t, hy, func(p *config.Provider) { p.AllowSignup = true })
		b := newHydraHarness(t, hy, func(p *config.Provider) { p.AllowSignup = true })
		q, _ := a.run(t, hydratest.Person{Subject: "sub-aud", Email: "aud@example.com", EmailVerified: true})
		st, err := b.svc.Start(ctx, "hydra", Begin{})
		if err != nil {
			t.Fatal(err)
		}
		bq, _ := url.Parse(st.URL)
		q.Set("state", bq.Query().Get("state"))
		_, err = b.finish(q, st.Binding)
		if k := KindOf(err); k != KindCode && k != KindToken {
			t.Fatalf("client B redeemed client A's code: %v", err)
		}
	})
}
