package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/config"
	"authgate/store"
	"authgate/store/memstore"
)

// fakeOAuth2 is a GitHub-style OAuth2 provider: an authorize step the test
// calls directly (as the person's browser would after signing in there), a
// token endpoint that checks the PKCE verifier and spends codes once, and a
// user-info endpoint.
type fakeOAuth2 struct {
	*httptest.Server
	mu      sync.Mutex
	account map[string]any // what /user answers for the next code
	codes   map[string]codeGrant
	tokens  map[string]map[string]any
	spent   int
}

type codeGrant struct {
	challenge, redirect string
	account             map[string]any
}

func newFakeOAuth2(t *testing.T) *fakeOAuth2 {
	f := &fakeOAuth2{codes: map[string]codeGrant{}, tokens: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if id, secret, ok := r.BasicAuth(); !ok || id != "cid" || secret != "csecret" {
			if r.PostFormValue("client_id") != "cid" || r.PostFormValue("client_secret") != "csecret" {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
		}
		g, ok := f.codes[r.PostFormValue("code")]
		delete(f.codes, r.PostFormValue("code"))
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge || r.PostFormValue("redirect_uri") != g.redirect {
			f.spent++
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		tok := randHex()
		f.tokens[tok] = g.account
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer"})
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		acct, ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		f.mu.Unlock()
		if !ok {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(acct)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// authorize plays the person signing in at the provider as acct: it takes
// the authorization URL and returns the callback's state and code.
func (f *fakeOAuth2) authorize(t *testing.T, authURL string, acct map[string]any) (state, code string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("response_type") != "code" {
		t.Fatalf("authorization URL lacks PKCE S256, state or response_type: %s", authURL)
	}
	code = randHex()
	f.mu.Lock()
	f.codes[code] = codeGrant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), account: acct}
	f.mu.Unlock()
	return q.Get("state"), code
}

func randHex() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func oauth2Provider(f *fakeOAuth2, name string, mod func(*config.Provider)) config.Provider {
	p := config.Provider{
		Name: name, Type: "oauth2", DisplayName: "Git" + name,
		AuthURL: f.URL + "/authorize", TokenURL: f.URL + "/token", UserInfoURL: f.URL + "/user",
		ClientID: "cid", ClientSecret: "csecret",
		RedirectURL: "https://gw.example/auth/oauth/" + name + "/callback",
		Scopes:      []string{"read:user"}, AllowedScopes: []string{"read:user", "user:email"},
		Claims:       config.ProviderClaims{Subject: "id", Email: "email", EmailVerified: "email_verified", Username: "login", Name: "name", Groups: "groups"},
		DefaultRoles: []string{"user"},
	}
	if mod != nil {
		mod(&p)
	}
	return p
}

type harness struct {
	svc *Service
	st  *memstore.Store
	idp *fakeOAuth2
	n   int
}

func newHarness(t *testing.T, providers ...func(*fakeOAuth2) config.Provider) *harness {
	t.Helper()
	h := &harness{st: memstore.New(), idp: newFakeOAuth2(t)}
	cfg := &config.Config{OneTimeTokens: config.OneTimeTokens{OAuthStateTTL: time.Minute}}
	for _, p := range providers {
		cfg.Providers = append(cfg.Providers, p(h.idp))
	}
	var err error
	h.svc, err = New(cfg, h.st, Options{NewUserID: func() string { h.n++; return "new-" + randHex()[:8] }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// signIn runs a whole sign-in at provider as acct.
func (h *harness) signIn(t *testing.T, provider string, acct map[string]any) (Result, error) {
	t.Helper()
	st, err := h.svc.Start(context.Background(), provider, Begin{Browser: true, ReturnTo: "/app"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	state, code := h.idp.authorize(t, st.URL, acct)
	return h.svc.Finish(context.Background(), provider, Callback{State: state, Code: code, Binding: st.Binding})
}

func wantKind(t *testing.T, err error, k Kind) {
	t.Helper()
	if KindOf(err) != k {
		t.Fatalf("error %v (kind %d), want kind %d", err, KindOf(err), k)
	}
}

func addUser(t *testing.T, st store.Store, u store.User) store.User {
	t.Helper()
	u.Active = true
	u.CreatedAt, u.UpdatedAt = time.Now(), time.Now()
	if u.Roles == nil {
		u.Roles = []string{"user"}
	}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestOAuth2SignUpCreatesAPasswordlessUserAndSignsInAgainByLink(t *testing.T) {
	h := newHarness(t, func(f *fakeOAuth2) config.Provider {
		return oauth2Provider(f, "gh", func(p *config.Provider) { p.AllowSignup = true })
	})
	acct := map[string]any{"id": 4242, "login": "octo", "email": "octo@example.com", "email_verified": true, "name": "Octo Cat"}
	r, err := h.signIn(t, "gh", acct)
	if err != nil {
		t.Fatalf("sign-up: %v", err)
	}
	if !r.Created || r.User.Username != "octo" || r.User.Email != "octo@example.com" || !r.User.EmailVerified ||
		r.User.PasswordHash != "" || !slices.Equal(r.User.Roles, []string{"user"}) || r.ReturnTo != "/app" || !r.Browser {
		t.Fatalf("result %+v", r)
	}
	if uid, err := h.st.IdentityUser(context.Background(), "gh", "4242"); err != nil || uid != r.User.ID {
		t.Fatalf("link: %q, %v (subject must be the number as text)", uid, err)
	}
	// The next sign-in finds the same user by the link, even with a new
	// login name and email at the provider.
	acct["login"], acct["email"] = "renamed", "other@example.com"
	r2, err := h.signIn(t, "gh", acct)
	if err != nil || r2.Created || r2.User.ID != r.User.ID {
		t.Fatalf("second sign-in: %+v, %v", r2, err)
	}
}

func TestOAuth2LinkingRules(t *testing.T) {
	tests := []struct {
		name       string
		linkEmail  bool
		signup     bool
		local      *store.User // a local user that exists first
		acct       map[string]any
		want       Kind // 0: success
		wantLinked bool
	}{
		{"verified email links when enabled", true, false,
			&store.User{Username: "alice", Email: "alice@example.com", EmailVerified: true},
			map[string]any{"id": "1", "email": "Alice@Example.com", "email_verified": true}, 0, true},
		{"unverified provider email never links", true, true,
			&store.User{Username: "alice", Email: "alice@example.com", EmailVerified: true},
			map[string]any{"id": "1", "email": "alice@example.com", "email_verified": false}, KindEmailUnverified, false},
		{"email as string false is unverified", true, true,
			&store.User{Username: "alice", Email: "alice@example.com", EmailVerified: true},
			map[string]any{"id": "1", "email": "alice@example.com", "email_verified": "false"}, KindEmailUnverified, false},
		{"linking by email off", false, true,
			&store.User{Username: "alice", Email: "alice@example.com", EmailVerified: true},
			map[string]any{"id": "1", "email": "alice@example.com", "email_verified": true}, KindAccountExists, false},
		{"local email unverified: pre-hijack refused", true, true,
			&store.User{Username: "squatter", Email: "alice@example.com", EmailVerified: false},
			map[string]any{"id": "1", "email": "alice@example.com", "email_verified": true}, KindAccountExists, false},
		{"sign-up off", true, false, nil,
			map[string]any{"id": "1", "email": "new@example.com", "email_verified": true}, KindSignupClosed, false},
		{"deactivated local user", true, false,
			&store.User{Username: "alice", Email: "alice@example.com", EmailVerified: true},
			map[string]any{"id": "1", "email": "alice@example.com", "email_verified": true}, KindDisabled, false},
		{"no subject", true, true, nil, map[string]any{"login": "x"}, KindToken, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(f *fakeOAuth2) config.Provider {
				return oauth2Provider(f, "gh", func(p *config.Provider) { p.LinkByEmail, p.AllowSignup = tc.linkEmail, tc.signup })
			})
			var local store.User
			if tc.local != nil {
				u := *tc.local
				u.ID = "local-1"
				local = addUser(t, h.st, u)
				if tc.want == KindDisabled {
					local.Active = false
					if err := h.st.UpdateUser(context.Background(), local); err != nil {
						t.Fatal(err)
					}
				}
			}
			r, err := h.signIn(t, "gh", tc.acct)
			if tc.want != 0 {
				wantKind(t, err, tc.want)
				if _, err := h.st.IdentityUser(context.Background(), "gh", "1"); err == nil {
					t.Fatalf("a refused sign-in left a link")
				}
				if users, _, _ := h.st.ListUsers(context.Background(), "", 10); len(users) != btoi(tc.local != nil) {
					t.Fatalf("a refused sign-in created a user: %v", users)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.User.ID != local.ID || r.Linked != tc.wantLinked || r.Created {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestCallbackRefusals(t *testing.T) {
	h := newHarness(t,
		func(f *fakeOAuth2) config.Provider {
			return oauth2Provider(f, "gh", func(p *config.Provider) { p.AllowSignup = true })
		},
		func(f *fakeOAuth2) config.Provider {
			return oauth2Provider(f, "other", func(p *config.Provider) { p.AllowSignup = true })
		})
	ctx := context.Background()
	acct := map[string]any{"id": "7", "login": "seven"}
	start := func() (Started, string, string) {
		st, err := h.svc.Start(ctx, "gh", Begin{})
		if err != nil {
			t.Fatal(err)
		}
		state, code := h.idp.authorize(t, st.URL, acct)
		return st, state, code
	}

	t.Run("replayed state", func(t *testing.T) {
		st, state, code := start()
		if _, err := h.svc.Finish(ctx, "gh", Callback{State: state, Code: code, Binding: st.Binding}); err != nil {
			t.Fatal(err)
		}
		_, err := h.svc.Finish(ctx, "gh", Callback{State: state, Code: code, Binding: st.Binding})
		wantKind(t, err, KindState)
	})
	t.Run("replayed code with a fresh state", func(t *testing.T) {
		st, state, code := start()
		if _, err := h.svc.Finish(ctx, "gh", Callback{State: state, Code: code, Binding: st.Binding}); err != nil {
			t.Fatal(err)
		}
		st2, state2, _ := start()
		_, err := h.svc.Finish(ctx, "gh", Callback{State: state2, Code: code, Binding: st2.Binding})
		wantKind(t, err, KindCode)
	})
	t.Run("another browser (no or wrong binding cookie)", func(t *testing.T) {
		_, state, code := start()
		_, err := h.svc.Finish(ctx, "gh", Callback{State: state, Code: code, Binding: "attacker"})
		wantKind(t, err, KindState)
		// and the flow is spent: the real browser cannot use it either
		_, state2, code2 := start()
		_, err = h.svc.Finish(ctx, "gh", Callback{State: state2, Code: code2})
		wantKind(t, err, KindState)
	})
	t.Run("mix-up: a state of one provider at another's callback", func(t *testing.T) {
		st, state, code := start()
		_, err := h.svc.Finish(ctx, "other", Callback{State: state, Code: code, Binding: st.Binding})
		wantKind(t, err, KindState)
	})
	t.Run("denied consent", func(t *testing.T) {
		st, state, _ := start()
		_, err := h.svc.Finish(ctx, "gh", Callback{State: state, Error: "access_denied", Binding: st.Binding})
		wantKind(t, err, KindDenied)
		_, err = h.svc.Finish(ctx, "gh", Callback{State: state, Code: "x", Binding: st.Binding})
		wantKind(t, err, KindState) // the flow was spent by the error answer
	})
	t.Run("missing code", func(t *testing.T) {
		st, state, _ := start()
		_, err := h.svc.Finish(ctx, "gh", Callback{State: state, Binding: st.Binding})
		wantKind(t, err, KindCode)
	})
	t.Run("unknown provider", func(t *testing.T) {
		_, err := h.svc.Start(ctx, "nope", Begin{})
		wantKind(t, err, KindUnknownProvider)
		_, err = h.svc.Finish(ctx, "nope", Callback{State: "x"})
		wantKind(t, err, KindUnknownProvider)
	})
	t.Run("scope outside allowed_scopes", func(t *testing.T) {
		_, err := h.svc.Start(ctx, "gh", Begin{Scopes: []string{"repo"}})
		wantKind(t, err, KindBadRequest)
		st, err := h.svc.Start(ctx, "gh", Begin{Scopes: []string{"user:email"}})
		if err != nil || !strings.Contains(st.URL, "scope=user%3Aemail") {
			t.Fatalf("allowed scope: %v %s", err, st.URL)
		}
	})
	t.Run("expired flow", func(t *testing.T) {
		h.svc.stateTTL = time.Millisecond
		defer func() { h.svc.stateTTL = time.Minute }()
		st, state, code := start()
		time.Sleep(20 * time.Millisecond)
		_, err := h.svc.Finish(ctx, "gh", Callback{State: state, Code: code, Binding: st.Binding})
		wantKind(t, err, KindState)
	})
}

func TestRoleMapGrantsAndRevokesOnlyMappedRoles(t *testing.T) {
	h := newHarness(t, func(f *fakeOAuth2) config.Provider {
		return oauth2Provider(f, "gh", func(p *config.Provider) {
			p.AllowSignup = true
			p.RoleMap = map[string][]string{"admins": {"admin"}, "ops": {"ops", "user"}}
		})
	})
	acct := map[string]any{"id": "9", "login": "nine", "groups": []any{"admins", "unmapped"}}
	r, err := h.signIn(t, "gh", acct)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.User.Roles, []string{"admin"}) {
		// default role "user" is grantable by the map ("ops"), so it
		// follows the groups: not in ops, no user role
		t.Fatalf("roles at sign-up %v", r.User.Roles)
	}
	u := r.User
	u.Roles = append(u.Roles, "billing") // given by an admin: not the map's
	if err := h.st.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	acct["groups"] = "ops"
	r, err = h.signIn(t, "gh", acct)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.User.Roles, []string{"billing", "ops", "user"}) || !r.RolesRemoved {
		t.Fatalf("roles after leaving admins: %v removed=%v", r.User.Roles, r.RolesRemoved)
	}
}

func TestConcurrentFirstSignInsMakeOneUser(t *testing.T) {
	h := newHarness(t, func(f *fakeOAuth2) config.Provider {
		return oauth2Provider(f, "gh", func(p *config.Provider) { p.AllowSignup = true })
	})
	acct := map[string]any{"id": "55", "login": "fifty", "email": "f@example.com", "email_verified": true}
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := h.signIn(t, "gh", acct)
			if err != nil {
				t.Errorf("sign-in %d: %v", i, err)
			}
			ids[i] = r.User.ID
		})
	}
	wg.Wait()
	users, _, _ := h.st.ListUsers(context.Background(), "", 100)
	if len(users) != 1 {
		t.Fatalf("%d users after %d concurrent first sign-ins, want 1", len(users), n)
	}
	for _, id := range ids {
		if id != users[0].ID {
			t.Fatalf("sign-ins got users %v, want all %s", ids, users[0].ID)
		}
	}
}
