package gateway

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const browserOn = `
transport:
  cookies: {enabled: true, same_site: none}
tokens: {access_ttl: 10m}
browser:
  enabled: true
  return_hosts: [app.example.com, "*.example.org"]
  scoped_sign_in:
    - {name: admin, roles: [admin], title: "Admin sign-in"}
`

// tab is a browser tab: it keeps cookies like a browser does (by name,
// newest wins, expired ones dropped) and sends what a browser sends.
type tab struct {
	e       *testEnv
	mu      *sync.Mutex
	cookies map[string]string
}

func newTab(e *testEnv) *tab { return &tab{e: e, mu: &sync.Mutex{}, cookies: map[string]string{}} }

func (b *tab) send(method, target, body string, headers ...string) resp {
	b.e.t.Helper()
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		headers = append(headers, "Host", u.Host)
		target = u.RequestURI()
	}
	b.mu.Lock()
	var parts []string
	for k, v := range b.cookies {
		parts = append(parts, k+"="+v)
	}
	b.mu.Unlock()
	if len(parts) > 0 {
		headers = append(headers, "Cookie", strings.Join(parts, "; "))
	}
	if body != "" && body[0] != '{' {
		headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
	}
	r := b.e.do(method, target, body, headers...)
	b.mu.Lock()
	for _, sc := range (&http.Response{Header: r.header}).Cookies() {
		if sc.MaxAge < 0 || sc.Value == "" || (!sc.Expires.IsZero() && sc.Expires.Before(time.Now())) {
			delete(b.cookies, sc.Name)
		} else {
			b.cookies[sc.Name] = sc.Value
		}
	}
	b.mu.Unlock()
	return r
}

// navigate is a top-level GET as Chromium sends it.
func (b *tab) navigate(target string) resp {
	return b.send("GET", target, "", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
}

// post submits a form of this site.
func (b *tab) post(target string, kv ...string) resp {
	return b.send("POST", target, form(kv...), "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "same-origin", "Origin", "http://example.com")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *tab) csrf(page resp) string {
	b.e.t.Helper()
	m := csrfField.FindSubmatch(page.body)
	if m == nil {
		b.e.t.Fatalf("no csrf field in %s", page.body)
	}
	return string(m[1])
}

// signIn opens the sign-in page and posts the form.
func (b *tab) signIn(page, user, password, returnTo string) resp {
	b.e.t.Helper()
	p := b.navigate(page)
	if p.status != 200 {
		b.e.t.Fatalf("sign-in page: %d %s", p.status, p.body)
	}
	return b.post(page, "csrf", b.csrf(p), "username", user, "password", password, "return_to", returnTo)
}

func TestBrowserNavigationIsSentToSignInAndBack(t *testing.T) {
	e := newEnv(t, func(y string) string { return y + browserOn })
	e.addUser("alice", "alice-password-1", "user")
	b := newTab(e)
	r := b.navigate("/api/report?month=5")
	if r.status != 302 || r.header.Get("Location") != "/auth/ui/sign-in?return_to="+url.QueryEscape("/api/report?month=5") {
		t.Fatalf("navigation without a session: %d %q", r.status, r.header.Get("Location"))
	}
	for _, h := range [][]string{
		{"Accept", "application/json"},
		{"Sec-Fetch-Mode", "cors", "Accept", "text/html"},
		{"X-Requested-With", "XMLHttpRequest", "Accept", "text/html"},
		{"Accept", "text/html;q=0.5, application/json"},
	} {
		if r := e.do("GET", "/api/report", "", h...); r.status != 401 || r.problemType(t) != "unauthenticated" {
			t.Errorf("%q: %d %s", h, r.status, r.body)
		}
	}
	page := b.navigate(r.header.Get("Location"))
	for k, want := range map[string]string{
		"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
		"Content-Type": "text/html; charset=utf-8",
	} {
		if got := page.header.Get(k); got != want {
			t.Errorf("sign-in page %s = %q, want %q", k, got, want)
		}
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `name="return_to" value="/api/report?month=5"`} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	if strings.Contains(string(page.body), "<script") {
		t.Error("the sign-in page has a script")
	}
	// wrong password: the page again, the error on the form, the name kept, the password not
	bad := b.post("/auth/ui/sign-in", "csrf", b.csrf(page), "username", "alice", "password", "not-her-password", "return_to", "/api/report?month=5")
	if bad.status != 401 || !strings.Contains(string(bad.body), "The username or password is wrong.") ||
		!strings.Contains(string(bad.body), `value="alice"`) || strings.Contains(string(bad.body), "not-her-password") {
		t.Fatalf("wrong password: %d %s", bad.status, bad.body)
	}
	ok := b.post("/auth/ui/sign-in", "csrf", b.csrf(page), "username", "alice", "password", "alice-password-1", "return_to", "/api/report?month=5")
	if ok.status != 303 || ok.header.Get("Location") != "/api/report?month=5" {
		t.Fatalf("sign-in: %d %q %s", ok.status, ok.header.Get("Location"), ok.body)
	}
	for _, sc := range (&http.Response{Header: ok.header}).Cookies() {
		if strings.Contains(sc.Name, "authgate_") && (!sc.HttpOnly || !sc.Secure || sc.Path != "/" || sc.Domain != "" || !strings.HasPrefix(sc.Name, "__Host-")) {
			t.Errorf("cookie %s: %+v", sc.Name, sc)
		}
	}
	got := b.navigate("/api/report?month=5")
	if got.status != 200 || !regexp.MustCompile(`"X-User-Name": \[\s*"alice"`).Match(got.body) {
		t.Fatalf("after sign-in: %d %s", got.status, got.body)
	}
	if strings.Contains(string(got.body), "authgate_refresh") || strings.Contains(string(got.body), "authgate_access") {
		t.Errorf("the upstream saw a session cookie: %s", got.body)
	}
}

func TestBrowserSignInRefusesForgedAndCrossSiteForms(t *testing.T) {
	e := newEnv(t, func(y string) string { return y + browserOn })
	e.addUser("alice", "alice-password-1", "user")
	b := newTab(e)
	page := b.navigate("/auth/ui/sign-in")
	tok := b.csrf(page)
	for name, tc := range map[string][]string{
		"no token":    {"username", "alice", "password", "alice-password-1"},
		"wrong token": {"csrf", "x" + tok, "username", "alice", "password", "alice-password-1"},
	} {
		if r := b.post("/auth/ui/sign-in", tc...); r.status != 403 || strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), "authgate_access=") {
			t.Errorf("%s: %d %v", name, r.status, r.header.Values("Set-Cookie"))
		}
	}
	// login CSRF: another site's form, even with a token it cannot know
	r := b.send("POST", "/auth/ui/sign-in", form("csrf", tok, "username", "alice", "password", "alice-password-1"),
		"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
	if r.status != 403 {
		t.Errorf("cross-site sign-in form: %d", r.status)
	}
	// and the JSON login route, which takes forms too
	r = e.do("POST", "/auth", form("username", "alice", "password", "alice-password-1"),
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
	if r.status != 403 || r.problemType(t) != "cross-site-request" {
		t.Errorf("cross-site JSON login: %d %s", r.status, r.body)
	}
}

func TestBrowserReturnAddressesStayOnTheAllowList(t *testing.T) {
	e := newEnv(t, func(y string) string { return y + browserOn })
	e.addUser("alice", "alice-password-1", "user")
	for _, tc := range []struct{ ret, want string }{
		{"/api/x", "/api/x"},
		{"https://app.example.com/x", "https://app.example.com/x"},
		{"https://wiki.example.org/", "https://wiki.example.org/"},
		{"//evil.com/x", "/"},
		{"/\\evil.com", "/"},
		{"https:evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"https://app.example.com@evil.com/", "/"},
		{"/%2f%2fevil.com", "/"},
		{"https://evil.com/", "/"},
	} {
		b := newTab(e)
		r := b.signIn("/auth/ui/sign-in", "alice", "alice-password-1", tc.ret)
		if r.status != 303 || r.header.Get("Location") != tc.want {
			t.Errorf("return_to %q: %d → %q, want %q", tc.ret, r.status, r.header.Get("Location"), tc.want)
		}
	}
}

func TestBrowserSessionRenewsItselfAcrossTabs(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return y + strings.Replace(browserOn, "tokens: {access_ttl: 10m}", "tokens: {access_ttl: 1s, leeway: 1ms}", 1)
	})
	e.addUser("alice", "alice-password-1", "user")
	b := newTab(e)
	if r := b.signIn("/auth/ui/sign-in", "alice", "alice-password-1", "/api/x"); r.status != 303 {
		t.Fatal(r.status)
	}
	time.Sleep(1500 * time.Millisecond) // past the 1s access token
	// eight tabs, one cookie jar, at once
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = b.navigate("/api/x").status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("tab %d after expiry: %d", i, s)
		}
	}
	if r := b.navigate("/api/x"); r.status != 200 {
		t.Fatalf("after the parallel renewals: %d %s", r.status, r.body)
	}
}

func TestBrowserCSRFOnOwnAndProxiedRoutes(t *testing.T) {
	e := newEnv(t, func(y string) string {
		y = strings.Replace(y, "  - {path: /api/**, policy: authenticated}", "  - {path: /api/own-csrf/**, policy: authenticated, csrf: false}\n  - {path: /api/**, policy: authenticated}", 1)
		return y + browserOn
	})
	e.addUser("alice", "alice-password-1", "user")
	b := newTab(e)
	b.signIn("/auth/ui/sign-in", "alice", "alice-password-1", "/")
	evil := []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"}
	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{"POST", "/logout", 403},
		{"POST", "/api/transfer", 403},
		{"DELETE", "/api/item/1", 403},
		{"PATCH", "/me", 403},
		{"POST", "/api/own-csrf/x", 200},
	} {
		body := "{}"
		if tc.method == "DELETE" {
			body = ""
		}
		r := b.send(tc.method, tc.target, body, evil...)
		if r.status != tc.status {
			t.Errorf("cross-site %s %s: %d %s", tc.method, tc.target, r.status, r.body)
		}
	}
	// a sibling host on the allow-list may post, and so may this site
	if r := b.send("POST", "/api/transfer", "{}", "Sec-Fetch-Site", "same-site", "Origin", "https://wiki.example.org"); r.status != 200 {
		t.Errorf("allow-listed origin: %d", r.status)
	}
	if r := b.send("POST", "/api/transfer", "{}", "Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"); r.status != 200 {
		t.Errorf("same origin: %d %s", r.status, r.body)
	}
	// a bearer request is not affected
	tok, _ := e.login("alice", "alice-password-1")
	if r := e.do("POST", "/api/transfer", "{}", append(bearer(tok), evil...)...); r.status != 200 {
		t.Errorf("bearer cross-site: %d", r.status)
	}
	// still signed in: the cross-site logout did nothing
	if r := b.navigate("/api/x"); r.status != 200 {
		t.Fatalf("after cross-site logout: %d", r.status)
	}
	// sign out on the page: afterwards nothing protected
	page := b.navigate("/auth/ui/sign-out")
	if r := b.post("/auth/ui/sign-out", "csrf", b.csrf(page)); r.status != 303 || r.header.Get("Location") != "/auth/ui/signed-out" {
		t.Fatalf("sign out: %d %q", r.status, r.header.Get("Location"))
	}
	if r := b.navigate("/api/x"); r.status != 302 {
		t.Fatalf("after sign-out: %d", r.status)
	}
}

func TestBrowserMustChangePasswordFlow(t *testing.T) {
	e := newEnv(t, func(y string) string { return y + browserOn })
	u := e.addUser("bob", "bob-password-1", "user")
	u.MustChangePassword = true
	if err := e.st.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	b := newTab(e)
	r := b.signIn("/auth/ui/sign-in", "bob", "bob-password-1", "/api/x")
	if r.status != 303 || r.header.Get("Location") != "/auth/ui/password?return_to=%2Fapi%2Fx" {
		t.Fatalf("must-change sign-in: %d %q", r.status, r.header.Get("Location"))
	}
	if r := b.navigate("/api/x"); r.status != 302 || !strings.HasPrefix(r.header.Get("Location"), "/auth/ui/password") {
		t.Fatalf("must-change navigation: %d %q", r.status, r.header.Get("Location"))
	}
	if r := b.send("GET", "/api/x", "", "Accept", "application/json"); r.status != 403 {
		t.Fatalf("must-change API call: %d", r.status)
	}
	page := b.navigate("/auth/ui/password?return_to=/api/x")
	if !strings.Contains(string(page.body), "You must choose a new password") {
		t.Fatalf("password page: %s", page.body)
	}
	weak := b.post("/auth/ui/password", "csrf", b.csrf(page), "current_password", "bob-password-1", "new_password", "short", "return_to", "/api/x")
	if weak.status != 400 || !strings.Contains(string(weak.body), `id="new_password-error"`) {
		t.Fatalf("weak new password: %d %s", weak.status, weak.body)
	}
	done := b.post("/auth/ui/password", "csrf", b.csrf(page), "current_password", "bob-password-1", "new_password", "bob-new-password-2", "return_to", "/api/x")
	if done.status != 303 || done.header.Get("Location") != "/api/x" {
		t.Fatalf("change: %d %q %s", done.status, done.header.Get("Location"), done.body)
	}
	if r := b.navigate("/api/x"); r.status != 200 {
		t.Fatalf("after the change: %d %s", r.status, r.body)
	}
}

func TestRoleScopedSignIn(t *testing.T) {
	e := newEnv(t, func(y string) string { return y + browserOn })
	e.addUser("alice", "alice-password-1", "user")
	e.addUser("root", "root-password-1", "admin")
	b := newTab(e)
	if r := b.signIn("/auth/ui/sign-in/admin", "alice", "alice-password-1", "/admin/x"); r.status != 401 || !strings.Contains(string(r.body), "The username or password is wrong.") {
		t.Errorf("non-admin on the admin sign-in: %d", r.status)
	}
	if r := b.signIn("/auth/ui/sign-in/admin", "root", "root-password-1", "/admin/x"); r.status != 303 {
		t.Errorf("admin on the admin sign-in: %d %s", r.status, r.body)
	}
	wrong := e.do("POST", "/auth?role=admin", `{"username":"alice","password":"nope-nope-1"}`)
	scoped := e.do("POST", "/auth?role=admin", `{"username":"alice","password":"alice-password-1"}`)
	if scoped.status != 401 || string(scoped.body) != string(wrong.body) {
		t.Errorf("JSON scoped login of a non-admin: %d %s (wrong password: %s)", scoped.status, scoped.body, wrong.body)
	}
	if r := e.do("POST", "/auth?role=admin", `{"username":"root","password":"root-password-1"}`); r.status != 200 {
		t.Errorf("JSON scoped login of an admin: %d", r.status)
	}
}

func TestForwardAuthBrowserMode(t *testing.T) {
	e := newEnv(t, func(y string) string { return y + browserOn })
	nav := []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}
	// Traefik and Caddy pass authgate's 302 on
	r := e.do("GET", "/auth/verify", "", append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/x?a=1", "X-Forwarded-Host", "app.example.com"}, nav...)...)
	if r.status != 401 {
		// the test client is not a trusted proxy: it is denied before anything
	}
	e2 := newEnv(t, func(y string) string {
		return strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["0.0.0.0/0"]`, 1) + browserOn
	})
	r = e2.do("GET", "/auth/verify", "", append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/api/x?a=1", "X-Forwarded-Host", "app.example.com"}, nav...)...)
	if r.status != 302 || r.header.Get("Location") != "/auth/ui/sign-in?return_to=%2Fapi%2Fx%3Fa%3D1" {
		t.Errorf("Traefik/Caddy navigation: %d %q", r.status, r.header.Get("Location"))
	}
	// nginx's auth_request takes 2xx, 401 and 403 only: its error_page redirects
	r = e2.do("GET", "/auth/verify", "", append([]string{"X-Original-Method", "GET", "X-Original-URI", "/api/x"}, nav...)...)
	if r.status != 401 {
		t.Errorf("nginx navigation: %d", r.status)
	}
}

func TestBrowserSingleSignOnAcrossSubdomainsAndCookieTossing(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return y + strings.Replace(browserOn, "cookies: {enabled: true, same_site: none}",
			"cookies: {enabled: true, same_site: none, domains: [{domain: example.com, hosts: [app.example.com, wiki.example.com]}]}", 1)
	})
	e.addUser("alice", "alice-password-1", "user")
	e.addUser("mallory", "mallory-password-1", "user")
	b := newTab(e)
	r := b.signIn("http://app.example.com/auth/ui/sign-in", "alice", "alice-password-1", "/api/x")
	if r.status != 303 {
		t.Fatalf("sign-in on app: %d %s", r.status, r.body)
	}
	names := map[string]*http.Cookie{}
	for _, sc := range (&http.Response{Header: r.header}).Cookies() {
		names[sc.Name] = sc
	}
	for _, n := range []string{"__Secure-authgate_access", "__Secure-authgate_refresh"} {
		if c := names[n]; c == nil || c.Domain != "example.com" || !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s on app.example.com: %+v", n, c)
		}
	}
	// the browser sends example.com cookies to the sibling: signed in there too
	if r := b.navigate("http://wiki.example.com/api/page"); r.status != 200 {
		t.Errorf("wiki.example.com with the shared cookies: %d", r.status)
	}
	// another host gets host-only cookies
	other := newTab(e)
	r = other.signIn("http://other.test/auth/ui/sign-in", "alice", "alice-password-1", "/")
	for _, sc := range (&http.Response{Header: r.header}).Cookies() {
		if strings.Contains(sc.Name, "authgate_access") && (sc.Name != "__Host-authgate_access" || sc.Domain != "") {
			t.Errorf("cookie on other.test: %+v", sc)
		}
	}
	// cookie tossing: a sibling sets an unprefixed cookie of its own choosing; it is never read
	_, mRefresh := e.login("mallory", "mallory-password-1")
	mAccess, _ := e.login("mallory", "mallory-password-1")
	tossed := newTab(e)
	tossed.cookies["authgate_access"] = mAccess
	tossed.cookies["authgate_refresh"] = mRefresh
	if r := tossed.navigate("http://app.example.com/api/x"); r.status != 302 {
		t.Errorf("a tossed unprefixed cookie was read: %d %s", r.status, r.body)
	}
}

func TestBrowserSignInStartsAFreshSession(t *testing.T) {
	e := newEnv(t, func(y string) string { return y + browserOn })
	e.addUser("alice", "alice-password-1", "user")
	b := newTab(e)
	b.signIn("/auth/ui/sign-in", "alice", "alice-password-1", "/")
	first := b.cookies["__Host-authgate_refresh"]
	form := b.cookies["__Host-authgate_form"]
	// signing in again (or after somebody planted cookies) never keeps the session the browser brought
	b.post("/auth/ui/sign-in", "csrf", form, "username", "alice", "password", "alice-password-1")
	second := b.cookies["__Host-authgate_refresh"]
	if first == "" || second == "" || strings.SplitN(first, ".", 2)[0] == strings.SplitN(second, ".", 2)[0] {
		t.Errorf("sign-in kept the session: %q then %q", first, second)
	}
	if b.cookies["__Host-authgate_form"] == form {
		t.Error("sign-in kept the form token")
	}
}
