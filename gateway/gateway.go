// Package gateway is authgate's HTTP side: the Fiber app, the gateway's own
// routes (login, refresh, me, logout, account flows, health, JWKS), the rule
// decision for every other request, the reverse proxy to the upstreams and
// the forward-auth endpoint.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ulule/limiter/v3"

	"authgate/account"
	"authgate/audit"
	"authgate/auth"
	"authgate/config"
	"authgate/gateway/fastpath"
	"authgate/gateway/proxy"
	"authgate/gateway/rules"
	"authgate/lease"
	"authgate/pages"
	"authgate/provider"
	"authgate/returnto"
	"authgate/store"
	"authgate/tracing"
	"authgate/trust"
)

// Options are the parts of a gateway that do not come from the config.
type Options struct {
	// Logger for request and event logs. Default: slog.Default().
	Logger *slog.Logger
	// LimiterStore keeps rate-limit counters; nil: in memory (one instance).
	LimiterStore limiter.Store
	// Mailer sends verification and reset mails; nil: they are logged.
	Mailer Mailer
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Audit receives the security events (package audit); nil: none.
	Audit *audit.Logger
	// Tracer makes the spans of the requests (package tracing); nil:
	// tracing is off.
	Tracer *tracing.Tracer

	// previous is the generation a reload replaces (see Reload); nil for
	// the first.
	previous *Gateway
}

// Gateway is one authgate instance.
type Gateway struct {
	cfg      *config.Config
	st       store.Store
	log      *slog.Logger
	now      func() time.Time
	hasher   *auth.Hasher
	keys     *auth.KeySet
	tokens   *auth.Tokens
	revoked  *auth.Revocations
	lease    lease.Keeper
	verifier *auth.Verifier
	sessions *auth.Sessions
	rules    *rules.Set
	proxies  map[string]*proxy.Proxy
	trusted  trustedProxies
	metrics  *metrics
	acct     *account.Service
	prov     *provider.Service // nil: no providers configured
	issuers  *trust.Issuers    // nil: no tokens.trusted_issuers
	// audited: own routes put the request's audit details in its context.
	audited bool
	// tr makes the spans; nil: tracing is off (the fast path then runs,
	// and no request pays for tracing beyond a nil check).
	tr      *tracing.Tracer
	returns *returnto.Policy // allowed return addresses (and CSRF origins)
	pages   *pages.Pages     // nil: browser.enabled is off
	jars    cookieJars
	// refreshes shares one session renewal among a browser's parallel
	// requests (autoRefresh).
	refreshes refreshGroup

	// idNames are the identity header names (user id, name, email,
	// roles) in canonical case.
	idNames [4]string
	// stripNames are idNames and requests.strip_headers: removed from
	// every proxied request in every spelling.
	stripNames []string
	// refused are requests.refuse_methods.
	refused []string

	routes routeTable
	fast   atomic.Pointer[fastpath.Server] // nil: the Fiber app serves everything
	// draining is set when Serve starts shutting down: the Fiber app's
	// answers then say Connection: close, as the fast path's do.
	draining atomic.Bool
	app      *fiber.App
	admin    *fiber.App

	// root is the first generation, which owns the listeners, the Fiber
	// apps, the fast path, the lease and the metrics; a reload builds a new
	// generation sharing them and makes it root.cur (reload.go).
	root *Gateway
	cur  atomic.Pointer[Gateway] // on root: the generation new requests use
	// fastUps are the fast path's upstreams this generation routes to, by
	// upstream name (absent: the Fiber app proxies).
	fastUps map[string]*fastpath.Upstream
	reload  atomic.Pointer[reloadState] // on root
	// runCtx is Start's context (on root): what a reload starts runs until
	// it ends.
	runCtx context.Context
}

// New builds a gateway from a loaded, validated config and an open store.
func New(cfg *config.Config, st store.Store, o Options) (*Gateway, error) {
	g := &Gateway{cfg: cfg, log: o.Logger, now: o.Now, audited: o.Audit != nil, tr: o.Tracer}
	if g.log == nil {
		g.log = slog.Default()
	}
	if prev := o.previous; prev != nil {
		// A reload: the store, the revocation set and its lease stay.
		// Tracing is a fixed setting: the tracer stays too.
		g.root, g.revoked, g.lease, g.st, g.tr = prev.root, prev.revoked, prev.lease, prev.st, prev.tr
	} else {
		g.root = g
		g.revoked = auth.NewRevocations()
		g.lease = lease.For(st, g.revoked, g.log)
		g.st = g.lease.Store(st)
		if g.tr != nil {
			// After lease.For, which looks for the backend's own interfaces.
			g.st = tracing.Store(g.st, g.tr, cfg.Store.Type)
		}
	}
	if g.now == nil {
		g.now = time.Now
	}
	var err error
	g.hasher = auth.NewHasher(cfg.Passwords)
	if g.tr != nil {
		g.hasher.SetTracer(g.tr.Hook())
	}
	if g.keys, err = auth.LoadKeys(cfg.Tokens, cfg.DataDir); err != nil {
		return nil, fmt.Errorf("tokens.keys: %w", err)
	}
	g.tokens = auth.NewTokens(cfg.Tokens, g.keys)
	g.tokens.SetEpoch(g.lease.Epoch)
	g.verifier = auth.NewVerifier(g.tokens, g.revoked, cfg.Tokens.CacheSize)
	g.verifier.SetGate(g.lease)
	if prev := o.previous; prev != nil && reflect.DeepEqual(prev.cfg.Tokens.TrustedIssuers, cfg.Tokens.TrustedIssuers) &&
		prev.cfg.Tokens.Leeway == cfg.Tokens.Leeway {
		g.issuers = prev.issuers // a reload: keep the running key fetchers
	} else if g.issuers = trust.New(cfg.Tokens.TrustedIssuers, cfg.Tokens.Leeway, nil, g.log); g.issuers != nil && prev != nil {
		ctx := g.root.runCtx // a reload that changed them: Start has run for root only
		if ctx == nil {
			ctx = context.Background()
		}
		g.issuers.Start(ctx)
	}
	if g.issuers != nil {
		g.verifier.SetExternal(g.issuers)
	}
	g.sessions = auth.NewSessions(g.st, g.tokens, g.revoked, cfg.Tokens)
	if g.trusted, err = parseTrusted(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(cfg.Upstreams.Named))
	for n := range cfg.Upstreams.Named {
		names[n] = true
	}
	set, probs, err := rules.Compile(cfg.Rules, cfg.DefaultPolicy, names)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	for _, p := range probs {
		if !p.Warning {
			return nil, fmt.Errorf("%s: %s", p.Path, p.Msg)
		}
		g.log.Warn("config", "field", p.Path, "problem", p.Msg)
	}
	g.rules = set
	ih := cfg.IdentityHeaders
	for i, n := range []string{ih.UserID, ih.Name, ih.Email, ih.Roles} {
		g.idNames[i] = proxy.CanonicalName(n)
	}
	g.stripNames = append(g.idNames[:len(g.idNames):len(g.idNames)], cfg.Requests.StripHeaders...)
	g.refused = cfg.Requests.RefuseMethods
	if err := g.buildProxies(); err != nil {
		return nil, err
	}
	if o.previous != nil {
		g.metrics = g.root.metrics
	} else {
		g.metrics = newMetrics()
	}
	var mailer account.Mailer
	if o.Mailer != nil { // a nil interface, not a typed nil: account then logs mails
		mailer = o.Mailer
	}
	if g.acct, err = account.New(cfg, g.st, g.hasher, g.sessions, account.Options{
		Logger: g.log, Now: g.now, Mailer: mailer, Observer: accountMetrics{g.metrics}, LimiterStore: o.LimiterStore,
		Audit: o.Audit,
	}); err != nil {
		return nil, err
	}
	g.jars = newCookieJars(cfg.Transport.Cookies)
	if err := g.buildBrowser(); err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	if len(cfg.Providers) > 0 {
		g.prov, err = provider.New(cfg, g.st, provider.Options{
			NewUserID: func() string {
				id, err := auth.NewUserID()
				if err != nil {
					panic(err) // crypto/rand does not fail on supported systems
				}
				return id
			},
			CheckUsername: func(n string) error {
				if e := account.CheckUsername(n); e != nil {
					return e
				}
				return nil
			},
			Now: g.now, Log: g.log,
		})
		if err != nil {
			return nil, err
		}
	}
	g.routes = g.ownRoutes()
	if o.previous != nil {
		g.app, g.admin = g.root.app, g.root.admin
		return g, nil
	}
	g.app = g.newApp()
	if cfg.AdminAddr() != "" {
		g.admin = g.newAdminApp()
	}
	g.cur.Store(g)
	return g, nil
}

func (g *Gateway) buildProxies() error {
	u := g.cfg.Upstreams
	g.proxies = make(map[string]*proxy.Proxy, len(u.Named)+1)
	mk := func(field, url string) (*proxy.Proxy, error) {
		p, err := proxy.New(proxy.Options{
			URL:             url,
			DialTimeout:     u.DialTimeout,
			ResponseTimeout: u.ResponseTimeout,
			MaxConns:        u.MaxConnsPerHost,
			Logger:          g.log,
			// The server's timeouts, so the proxy need not copy Fiber's
			// config on every request.
			ClientReadTimeout:  g.cfg.Server.ReadTimeout,
			ClientWriteTimeout: g.cfg.Server.WriteTimeout,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return p, nil
	}
	var err error
	if g.proxies[""], err = mk("upstreams.default", u.Default); err != nil {
		return err
	}
	for name, url := range u.Named {
		if g.proxies[name], err = mk("upstreams.named."+name, url); err != nil {
			return err
		}
	}
	return nil
}

// Accounts is the account service, for `authgate users` commands that
// reach this gateway over its control socket.
func (g *Gateway) Accounts() *account.Service { return g.root.cur.Load().acct }

// App is the main Fiber app (for tests: app.Test).
func (g *Gateway) App() *fiber.App { return g.app }

// AdminApp serves /metrics, /healthz and /readyz on admin_listen; nil when
// admin_listen is off.
func (g *Gateway) AdminApp() *fiber.App { return g.admin }

// Start seeds the configured users and starts keeping the revocation set in
// step with the store until ctx ends. Call it before serving.
func (g *Gateway) Start(ctx context.Context) error {
	g.runCtx = ctx
	if g.issuers != nil {
		g.issuers.Start(ctx)
	}
	if err := g.seedUsers(ctx); err != nil {
		return err
	}
	initial, err := g.st.RevokedSessions(ctx)
	if err != nil {
		return fmt.Errorf("load revocations: %w", err)
	}
	g.revoked.Replace(initial)
	// Tokens are accepted only once this instance is in step with the
	// revocations made elsewhere (package lease).
	if !g.lease.Start(ctx, 5*time.Second) {
		g.log.Warn("not yet in step with the revocation feed; tokens are refused with 503 until it is")
	}
	return nil
}

// Serve answers on ln (and adminLn, when not nil) until ctx ends, then
// drains in-flight requests for up to server.shutdown_timeout. On Linux,
// with a plain TCP listener and server.fast_path on, the event loops of
// package fastpath accept on ln and hand the Fiber app what they do not
// serve themselves.
func (g *Gateway) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	fast, err := g.fastPath(ln)
	if err != nil {
		return err
	}
	errc := make(chan error, 3)
	appLn := ln
	if fast != nil {
		g.fast.Store(fast)
		g.metrics.fastPath(fast.Counts)
		appLn = fast.Handoff()
		go func() {
			if err := fast.Serve(); err != nil {
				errc <- err
			}
		}()
	}
	go func() { errc <- g.app.Listener(appLn) }()
	if adminLn != nil && g.admin != nil {
		go func() { errc <- g.admin.Listener(adminLn) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down", "drain_timeout", g.cfg.Server.ShutdownTimeout.String())
	g.draining.Store(true)
	var errs []error
	if fast != nil {
		// First the loops, which may still hand connections to the app.
		sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownTimeout)
		if err := fast.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("fast path: %w", err))
		}
		cancel()
		_ = ln.Close()
	}
	if err := g.app.ShutdownWithTimeout(g.cfg.Server.ShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	if g.admin != nil {
		if err := g.admin.ShutdownWithTimeout(g.cfg.Server.ShutdownTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// seedUsers creates the configured users that do not exist yet.
func (g *Gateway) seedUsers(ctx context.Context) error {
	for i, su := range g.cfg.Users.Seed {
		_, err := g.st.GetUserByUsername(ctx, su.Username)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("users.seed[%d]: %w", i, err)
		}
		id, err := auth.NewUserID()
		if err != nil {
			return err
		}
		now := g.now().UTC()
		u := store.User{
			ID: id, Username: su.Username, Email: su.Email, PasswordHash: su.PasswordHash,
			Roles: append([]string(nil), su.Roles...), Active: true, EmailVerified: su.Email != "",
			MustChangePassword: su.MustChangePassword, CreatedAt: now, UpdatedAt: now,
		}
		if err := g.st.CreateUser(ctx, u); err != nil && !errors.Is(err, store.ErrUsernameTaken) {
			return fmt.Errorf("users.seed[%d] (%s): %w", i, su.Username, err)
		}
		g.log.Info("seed user created", "username", su.Username, "id", id)
	}
	return nil
}
