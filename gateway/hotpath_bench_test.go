package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"authgate/auth"
	"authgate/config"
	"authgate/gateway/rules"
	"authgate/store"
)

// benchRules is a realistic rule list of twenty rules: public assets and
// health checks, role-gated admin and billing areas, method-restricted APIs,
// a host-bound rule, a named upstream and a deny rule, ending in a catch-all.
const benchRules = `
rules:
  - {path: /healthz/**, policy: public}
  - {path: /static/**, methods: [GET, HEAD], policy: public}
  - {path: /assets/**, methods: [GET, HEAD], policy: public}
  - {path: /favicon.ico, policy: public}
  - {path: /robots.txt, policy: public}
  - {path: /public/**, policy: public}
  - {path: /docs/**, policy: public, hosts: [docs.example.com]}
  - {path: /internal/**, policy: deny}
  - {path: /debug/**, policy: deny}
  - {path: /admin/**, policy: authenticated, roles: [admin]}
  - {path: /billing/**, policy: authenticated, roles: [billing, admin], upstream: other}
  - {path: /reports/*, methods: [GET], policy: authenticated, roles: [analyst, admin]}
  - {path: /api/v1/users/*, methods: [GET], policy: authenticated}
  - {path: /api/v1/users/*, methods: [PUT, PATCH, DELETE], policy: authenticated, roles: [admin]}
  - {path: /api/v1/orders/**, methods: [GET, POST], policy: authenticated}
  - {path: /api/v1/search, methods: [GET], policy: authenticated}
  - {path: /api/v2/**, policy: authenticated, hosts: [api.example.com]}
  - {path: /api/**, policy: authenticated}
  - {path: /ws/**, policy: authenticated}
  - {path: /**, policy: authenticated}
`

// benchEnv is a gateway on the memory store with benchRules in front of a
// fasthttp upstream on loopback that answers 200 "ok", and a valid access
// token for a user with roles user and admin, already in the verifier cache.
type benchEnv struct {
	g     *Gateway
	token string
}

// newBenchEnv builds the gateway from the harness's testConfig with its
// rules replaced by benchRules. logLevel is the level of the request log,
// which is formatted into io.Discard.
func newBenchEnv(b *testing.B, logLevel slog.Level) *benchEnv {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("ok")
	}}
	go func() { _ = up.Serve(ln) }()
	b.Cleanup(func() { _ = up.Shutdown() })

	y := strings.NewReplacer("%DATA%", b.TempDir(), "%UPSTREAM%", "http://"+ln.Addr().String()).Replace(testConfig)
	y = y[:strings.Index(y, "rules:")] + strings.TrimPrefix(benchRules, "\n")
	cfg, err := config.LoadBytes([]byte(y))
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	st, limits, err := OpenStore(ctx, cfg)
	if err != nil {
		b.Fatalf("store: %v", err)
	}
	b.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: logLevel}))
	g, err := New(cfg, st, Options{Logger: log, LimiterStore: limits})
	if err != nil {
		b.Fatalf("gateway: %v", err)
	}
	if err := g.Start(ctx); err != nil {
		b.Fatalf("start: %v", err)
	}
	id, _ := auth.NewUserID()
	u := store.User{ID: id, Username: "alice", Email: "alice@example.com", Roles: []string{"user", "admin"},
		Active: true, EmailVerified: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	pair, err := g.sessions.Start(ctx, u, auth.Authn{AMR: []string{"pwd"}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := g.verifier.Authenticate(pair.AccessToken, time.Now()); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{g: g, token: pair.AccessToken}
}

// benchRequest is a browser API call as it reaches the gateway.
func benchRequest(token string) *fasthttp.Request {
	req := new(fasthttp.Request)
	req.Header.SetMethod("GET")
	req.SetRequestURI("/api/v1/orders/1234/items?page=2")
	req.Header.SetHost("app.example.com")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Referer", "https://app.example.com/orders")
	return req
}

// benchCtx returns a Fiber ctx on a request from 192.0.2.10 (not a trusted
// proxy); release it with app.ReleaseCtx.
func benchCtx(b *testing.B, g *Gateway, req *fasthttp.Request) (*fiber.Ctx, *fasthttp.RequestCtx) {
	b.Helper()
	fctx := new(fasthttp.RequestCtx)
	fctx.Init(req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 40000}, nil)
	c := g.App().AcquireCtx(fctx)
	b.Cleanup(func() { g.App().ReleaseCtx(c) })
	return c, fctx
}

// BenchmarkNormalizeMatch is the routing decision of one request: normalize
// the raw target, then match it against twenty rules.
func BenchmarkNormalizeMatch(b *testing.B) {
	e := newBenchEnv(b, slog.LevelWarn)
	for _, bc := range []struct{ name, method, host, target string }{
		{"api-orders", "GET", "app.example.com", "/api/v1/orders/1234/items?page=2"},
		{"admin-dotted", "POST", "app.example.com", "/public/../admin//users/./42"},
		{"catch-all", "GET", "app.example.com:8443", "/some/page/deep/down"},
	} {
		target := []byte(bc.target)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				path, _, err := rules.Normalize(target)
				if err != nil {
					b.Fatal(err)
				}
				if d := e.g.rules.Match(bc.method, bc.host, path); d.Policy != rules.PolicyAuthenticated {
					b.Fatalf("%s: policy %v", bc.target, d.Policy)
				}
			}
		})
	}
}

// BenchmarkAuthenticateCached is decide() for an authenticated rule with a
// role, on a token the verifier has cached: bearer extraction, the cache
// hit, the revocation check, the role check and the decision metric.
func BenchmarkAuthenticateCached(b *testing.B) {
	e := newBenchEnv(b, slog.LevelWarn)
	c, _ := benchCtx(b, e.g, benchRequest(e.token))
	d := e.g.rules.Match("GET", "app.example.com", "/admin/users")
	if d.Policy != rules.PolicyAuthenticated || len(d.Roles) == 0 {
		b.Fatalf("decision %+v, want an authenticated rule with roles", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		rq := request{hdr: &c.Request().Header}
		claims, err := e.g.decide(&rq, d)
		if err != nil || claims == nil {
			b.Fatalf("decide: %v", err)
		}
	}
}

// BenchmarkHeaderRewrite is the gateway's share of the upstream request
// headers: the identity headers rendered from the claims and the
// X-Forwarded-* values, i.e. the proxy.Request handed to Forward. The
// proxy's own field-by-field copy is measured by BenchmarkHeaderRewrite in
// gateway/proxy (its rewrite function is not exported).
func BenchmarkHeaderRewrite(b *testing.B) {
	e := newBenchEnv(b, slog.LevelWarn)
	req := benchRequest(e.token)
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	c, _ := benchCtx(b, e.g, req)
	claims, err := e.g.verifier.Authenticate(e.token, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	// As serve leaves it for a client that is not a trusted proxy.
	rq := request{path: "/api/v1/orders/1234/items", query: "page=2", clientIP: "192.0.2.10",
		hdr: &c.Request().Header, peer: netip.MustParseAddr("192.0.2.10")}
	b.ReportAllocs()
	for b.Loop() {
		pr := e.g.proxyHeaders(&rq, claims, nil)
		if len(pr.Identity) != 4 || pr.ForwardedFor == "" {
			b.Fatalf("request %+v", pr)
		}
	}
}

// benchConn stands for a client connection in a RequestCtx built in memory:
// it has addresses and accepts deadlines, and nothing is read or written.
type benchConn struct{ net.Conn }

var (
	benchPeer  net.Addr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10).To4(), Port: 40000}
	benchLocal net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 8080}
)

// RemoteAddr and LocalAddr return shared values, as a net.TCPConn does.
func (benchConn) RemoteAddr() net.Addr             { return benchPeer }
func (benchConn) LocalAddr() net.Addr              { return benchLocal }
func (benchConn) SetDeadline(time.Time) error      { return nil }
func (benchConn) SetReadDeadline(time.Time) error  { return nil }
func (benchConn) SetWriteDeadline(time.Time) error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// BenchmarkServeProxied is one whole proxied request with a cached token:
// normalize, match, authenticate, header rewrite, the round trip to a
// fasthttp upstream on loopback, the response relayed and its body read,
// the metrics and the request log line (formatted into io.Discard at level
// info, skipped at warn).
//
// The handler-* cases call the gateway's fasthttp handler on a RequestCtx
// built in memory, so the figures are the gateway's and the upstream's; the
// loopback case serves the app on 127.0.0.1 and adds a fasthttp client and
// the server's connection handling.
func BenchmarkServeProxied(b *testing.B) {
	for _, bc := range []struct {
		name  string
		level slog.Level
	}{
		{"handler-log-info", slog.LevelInfo},
		{"handler-log-warn", slog.LevelWarn},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newBenchEnv(b, bc.level)
			h := e.g.App().Handler()
			fctx := new(fasthttp.RequestCtx)
			fctx.Init2(benchConn{}, discardLogger{}, false)
			benchRequest(e.token).CopyTo(&fctx.Request)
			serve := func() {
				fctx.Response.Reset()
				h(fctx)
				if st := fctx.Response.StatusCode(); st != fiber.StatusOK {
					b.Fatalf("status %d: %s", st, fctx.Response.Body())
				}
				if body := fctx.Response.Body(); string(body) != "ok" { // reads and closes the stream
					b.Fatalf("body %q", body)
				}
			}
			serve() // dial the upstream outside the timing
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
			fctx.Response.Reset()
		})
	}
	b.Run("loopback-log-info", func(b *testing.B) {
		e := newBenchEnv(b, slog.LevelInfo)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = e.g.App().Listener(ln) }()
		b.Cleanup(func() { _ = e.g.App().Shutdown() })
		client := &fasthttp.HostClient{Addr: ln.Addr().String()}
		req := benchRequest(e.token)
		req.SetRequestURI("http://" + ln.Addr().String() + "/api/v1/orders/1234/items?page=2")
		req.Header.SetHost("app.example.com")
		resp := new(fasthttp.Response)
		do := func() {
			if err := client.Do(req, resp); err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode() != fiber.StatusOK || string(resp.Body()) != "ok" {
				b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
			}
		}
		do()
		b.ReportAllocs()
		for b.Loop() {
			do()
		}
	})
}
