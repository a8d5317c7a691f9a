package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"authgate/config"
	"authgate/store"
)

// Store is what the package needs from the backend.
type Store interface {
	store.Users
	store.OneTimeTokens
	store.Identities
}

// purpose is the one-time-token purpose of the flows of a provider: a
// state made for one provider is unknown at another's callback.
func purpose(name string) string { return "oauth-flow:" + name }

// Info describes a provider for a sign-in page.
type Info struct {
	Name        string
	DisplayName string
}

// Options adjusts New.
type Options struct {
	// HTTPClient talks to the providers. Default: a client with a 10 s
	// timeout that follows no redirects off the provider's answers.
	HTTPClient *http.Client
	// NewUserID makes the ID of a user created by sign-up (required).
	NewUserID func() string
	// CheckUsername tells whether a username is acceptable for a new user
	// (nil: any non-empty one).
	CheckUsername func(string) error
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Service runs provider sign-ins. Create it with New.
type Service struct {
	clients  map[string]*client
	order    []Info
	st       Store
	stateTTL time.Duration
	opts     Options
}

// New returns a Service for the providers of cfg.
func New(cfg *config.Config, st Store, o Options) (*Service, error) {
	if o.NewUserID == nil {
		return nil, errors.New("provider: Options.NewUserID is required")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Service{clients: map[string]*client{}, st: st, stateTTL: cfg.OneTimeTokens.OAuthStateTTL, opts: o}
	for _, p := range cfg.Providers {
		s.clients[p.Name] = newClient(p, o.HTTPClient)
		s.order = append(s.order, Info{Name: p.Name, DisplayName: p.DisplayName})
	}
	return s, nil
}

// Providers lists the configured providers in config order.
func (s *Service) Providers() []Info { return s.order }

// Has reports whether a provider of that name is configured.
func (s *Service) Has(name string) bool { return s.clients[name] != nil }

// flow is what the store keeps between authorize and callback.
type flow struct {
	Provider string   `json:"p"`
	Binding  string   `json:"b"` // hex SHA-256 of the browser's binding cookie
	Nonce    string   `json:"n,omitempty"`
	Verifier string   `json:"v"`
	Scopes   []string `json:"s"`
	ReturnTo string   `json:"r,omitempty"`
	Browser  bool     `json:"w,omitempty"`
}

// Begin is the input of Start.
type Begin struct {
	// Scopes asked for by an API client (nil: the provider's scopes).
	Scopes []string
	// ReturnTo is where a browser goes after signing in; the caller has
	// checked it against the allow-list already.
	ReturnTo string
	// Browser: the callback answers a browser (cookies, redirect) rather
	// than an API client (JSON).
	Browser bool
}

// Started is the authorization request to send the client to. Binding is
// the value of the short-lived cookie the caller must set: the callback
// must present it.
type Started struct {
	URL     string
	Binding string
	Expires time.Time
}

// Start begins a sign-in with the named provider.
func (s *Service) Start(ctx context.Context, name string, in Begin) (Started, error) {
	c := s.clients[name]
	if c == nil {
		return Started{}, fail(KindUnknownProvider, fmt.Sprintf("no identity provider %q", name), nil)
	}
	scopes := c.cfg.Scopes
	if in.Scopes != nil {
		for _, sc := range in.Scopes {
			if !slices.Contains(c.cfg.AllowedScopes, sc) {
				return Started{}, fail(KindBadRequest, fmt.Sprintf("scope %q is not allowed for %s", sc, name), nil)
			}
		}
		scopes = in.Scopes
		if c.cfg.Type == "oidc" && !slices.Contains(scopes, "openid") {
			scopes = append([]string{"openid"}, scopes...)
		}
	}
	binding, state := random(), random()
	f := &flow{Provider: name, Binding: digest(binding), Verifier: oauth2.GenerateVerifier(),
		Scopes: scopes, ReturnTo: in.ReturnTo, Browser: in.Browser}
	if c.cfg.Type == "oidc" {
		f.Nonce = random()
	}
	u, err := c.authURL(ctx, f, state)
	if err != nil {
		return Started{}, err
	}
	rec, err := json.Marshal(f)
	if err != nil {
		return Started{}, err
	}
	exp := s.opts.Now().Add(s.stateTTL)
	// The one-time token's "user" is the flow record itself: unique per
	// flow, so one flow never supersedes another (several tabs may sign
	// in at once), and consumed atomically at the callback.
	owner := base64.RawURLEncoding.EncodeToString(rec)
	if err := s.st.PutOneTime(ctx, purpose(name), digest(state), owner, exp); err != nil {
		return Started{}, err
	}
	return Started{URL: u, Binding: binding, Expires: exp}, nil
}

// Callback is what the provider sent back through the browser, plus the
// binding cookie the browser presented.
type Callback struct {
	State, Code, Error, ErrorDescription string
	// Issuer is the authorization response's `iss` (RFC 9207), if sent.
	Issuer  string
	Binding string
}

// Result is a finished provider sign-in.
type Result struct {
	User store.User
	// Created: the user was created by this sign-in; Linked: the provider
	// account was linked to an existing user by this sign-in.
	Created, Linked bool
	// RolesRemoved: the role map took roles away, so the caller should end
	// the user's other sessions as for any role removal.
	RolesRemoved bool
	ReturnTo     string
	Browser      bool
	Claims       Claims
}

// Finish completes a sign-in at the named provider's callback.
func (s *Service) Finish(ctx context.Context, name string, cb Callback) (Result, error) {
	c := s.clients[name]
	if c == nil {
		return Result{}, fail(KindUnknownProvider, fmt.Sprintf("no identity provider %q", name), nil)
	}
	var f *flow
	if cb.State != "" {
		// Consumed first, whatever follows: a state works once.
		owner, err := s.st.ConsumeOneTime(ctx, purpose(name), digest(cb.State))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return Result{}, err
		default:
			f = decodeFlow(owner)
		}
	}
	if cb.Error != "" {
		r := Result{}
		if f != nil {
			r.Browser, r.ReturnTo = f.Browser, f.ReturnTo
		}
		return r, fail(KindDenied, deniedDetail(cb.Error), fmt.Errorf("provider error %.64q: %.200q", cb.Error, cb.ErrorDescription))
	}
	if f == nil || f.Provider != name {
		return Result{}, fail(KindState, "this sign-in link is unknown, used or expired: start again", nil)
	}
	res := Result{Browser: f.Browser, ReturnTo: f.ReturnTo}
	if cb.Binding == "" || subtle.ConstantTimeCompare([]byte(digest(cb.Binding)), []byte(f.Binding)) != 1 {
		return res, fail(KindState, "this sign-in was started in another browser: start again here", nil)
	}
	if cb.Issuer != "" && c.cfg.Type == "oidc" && cb.Issuer != c.cfg.Issuer {
		return res, fail(KindState, "this answer comes from another identity provider", fmt.Errorf("iss %q", cb.Issuer))
	}
	if cb.Code == "" {
		return res, fail(KindCode, "the identity provider sent no sign-in code", nil)
	}
	cl, err := c.exchange(ctx, f, cb.Code)
	if err != nil {
		return res, err
	}
	res.Claims = cl
	u, created, linked, removed, err := s.resolve(ctx, c, cl)
	if err != nil {
		return res, err
	}
	res.User, res.Created, res.Linked, res.RolesRemoved = u, created, linked, removed
	return res, nil
}

func deniedDetail(code string) string {
	switch code {
	case "access_denied":
		return "the sign-in was refused at the identity provider"
	case "login_required", "consent_required", "interaction_required":
		return "the identity provider needs you to sign in there first"
	}
	return "the identity provider could not sign you in"
}

func decodeFlow(owner string) *flow {
	raw, err := base64.RawURLEncoding.DecodeString(owner)
	if err != nil {
		return nil
	}
	var f flow
	if json.Unmarshal(raw, &f) != nil {
		return nil
	}
	return &f
}

// resolve finds, links or creates the local user of a provider account.
func (s *Service) resolve(ctx context.Context, c *client, cl Claims) (u store.User, created, linked, removed bool, err error) {
	name := c.cfg.Name
	for attempt := 0; attempt < 3; attempt++ {
		uid, err := s.st.IdentityUser(ctx, name, cl.Subject)
		switch {
		case err == nil:
			u, err = s.st.GetUser(ctx, uid)
			if errors.Is(err, store.ErrNotFound) {
				// A link left behind by a deletion that did not finish:
				// it names nobody, so drop it and go on as unlinked.
				_ = s.st.UnlinkIdentity(ctx, uid, name, cl.Subject)
				continue
			}
			if err != nil {
				return u, false, false, false, err
			}
			if !u.Active {
				return u, false, false, false, fail(KindDisabled, "this account is deactivated", nil)
			}
			u, removed, err = s.syncRoles(ctx, c, u, cl)
			return u, false, false, removed, err
		case !errors.Is(err, store.ErrNotFound):
			return u, false, false, false, err
		}
		if cl.Email != "" {
			existing, err := s.st.GetUserByEmail(ctx, cl.Email)
			switch {
			case err == nil:
				u, err := s.linkByEmail(ctx, c, existing, cl)
				if errors.Is(err, store.ErrIdentityTaken) {
					continue // linked meanwhile by a concurrent sign-in
				}
				if err != nil {
					return u, false, false, false, err
				}
				u, removed, err = s.syncRoles(ctx, c, u, cl)
				return u, false, true, removed, err
			case !errors.Is(err, store.ErrNotFound):
				return u, false, false, false, err
			}
		}
		if !c.cfg.AllowSignup {
			return u, false, false, false, fail(KindSignupClosed, "no account is linked to this identity, and signing up through "+c.cfg.DisplayName+" is off", nil)
		}
		u, err = s.signUp(ctx, c, cl)
		if errors.Is(err, store.ErrIdentityTaken) || errors.Is(err, store.ErrEmailTaken) {
			continue // a concurrent sign-in of the same account, or email, won
		}
		return u, err == nil, false, false, err
	}
	return u, false, false, false, fmt.Errorf("provider sign-in: the account kept changing concurrently")
}

// linkByEmail links the provider account to the local user with its email,
// when that is safe.
func (s *Service) linkByEmail(ctx context.Context, c *client, existing store.User, cl Claims) (store.User, error) {
	switch {
	case !cl.EmailVerified:
		return existing, fail(KindEmailUnverified, "an account with this email exists, and "+c.cfg.DisplayName+" does not confirm the email is yours", nil)
	case !c.cfg.LinkByEmail:
		return existing, fail(KindAccountExists, "an account with this email exists: sign in with its password", nil)
	case !existing.EmailVerified:
		// Whoever registered the address here never proved it: linking
		// would hand that account to them (pre-hijacking).
		return existing, fail(KindAccountExists, "an account with this email exists but its email is not verified: verify it first", nil)
	case !existing.Active:
		return existing, fail(KindDisabled, "this account is deactivated", nil)
	}
	err := s.st.LinkIdentity(ctx, store.Identity{Provider: c.cfg.Name, Subject: cl.Subject, UserID: existing.ID,
		Email: cl.Email, LinkedAt: s.opts.Now()})
	if err != nil {
		return existing, err
	}
	s.opts.Log.InfoContext(ctx, "provider account linked by verified email", "provider", c.cfg.Name, "user", existing.ID)
	return existing, nil
}

// signUp creates a user for the provider account and links it.
func (s *Service) signUp(ctx context.Context, c *client, cl Claims) (store.User, error) {
	now := s.opts.Now()
	u := store.User{
		ID:        s.opts.NewUserID(),
		Roles:     slices.Clone(c.cfg.DefaultRoles),
		Active:    true,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if cl.EmailVerified {
		// An unverified email is not kept: it would reserve an address
		// nobody proved to own.
		u.Email, u.EmailVerified = cl.Email, true
	}
	u.Roles, _ = mappedRoles(c.cfg.RoleMap, u.Roles, cl.Groups)
	var err error
	for i, name := range s.usernames(c, cl) {
		u.Username = name
		if err = s.st.CreateUser(ctx, u); !errors.Is(err, store.ErrUsernameTaken) || i == 3 {
			break
		}
	}
	if err != nil {
		return u, err
	}
	err = s.st.LinkIdentity(ctx, store.Identity{Provider: c.cfg.Name, Subject: cl.Subject, UserID: u.ID, Email: cl.Email, LinkedAt: now})
	if err != nil {
		// Another sign-in of the same account linked first: this user
		// must not stay behind unreachable.
		_ = s.st.DeleteUser(context.WithoutCancel(ctx), u.ID)
		return u, err
	}
	s.opts.Log.InfoContext(ctx, "user signed up through provider", "provider", c.cfg.Name, "user", u.ID)
	return u, nil
}

// usernames proposes names for a new user: the provider's username, the
// email's local part, then provider-based names with random suffixes.
func (s *Service) usernames(c *client, cl Claims) []string {
	var out []string
	for _, n := range []string{cl.Username, strings.SplitN(cl.Email, "@", 2)[0]} {
		if n != "" && (s.opts.CheckUsername == nil || s.opts.CheckUsername(n) == nil) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	base := c.cfg.Name + "-" + digest(cl.Subject)[:8]
	out = append(out, base)
	for len(out) < 4 {
		out = append(out, base+"-"+random()[:6])
	}
	return out[:4]
}

// syncRoles applies the role map to an existing user.
func (s *Service) syncRoles(ctx context.Context, c *client, u store.User, cl Claims) (store.User, bool, error) {
	if len(c.cfg.RoleMap) == 0 {
		return u, false, nil
	}
	roles, removed := mappedRoles(c.cfg.RoleMap, u.Roles, cl.Groups)
	if slices.Equal(roles, u.Roles) {
		return u, false, nil
	}
	u.Roles, u.UpdatedAt = roles, s.opts.Now()
	if err := s.st.UpdateUser(ctx, u); err != nil {
		return u, false, err
	}
	return u, removed, nil
}

// mappedRoles returns roles with every role the map can grant set to what
// groups grant now, and whether one was taken away.
func mappedRoles(m map[string][]string, roles, groups []string) ([]string, bool) {
	if len(m) == 0 {
		return roles, false
	}
	grantable := map[string]bool{}
	for _, rs := range m {
		for _, r := range rs {
			grantable[r] = true
		}
	}
	var out []string
	removed := false
	for _, r := range roles {
		if !grantable[r] {
			out = append(out, r)
		}
	}
	for _, g := range groups {
		for _, r := range m[g] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	for _, r := range roles {
		if grantable[r] && !slices.Contains(out, r) {
			removed = true
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, removed
}

// random is 256 bits, URL-safe.
func random() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("provider: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
