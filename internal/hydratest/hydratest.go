// Package hydratest runs a real OpenID provider, Ory Hydra v2, on loopback
// for tests, with the login and consent endpoints that Hydra leaves to the
// application played by the test: the test says who signs in (subject,
// email, whether it is verified, groups) and whether consent is given.
//
// The binary is built from the tool module in tools/hydra (see
// docs/providers.md and .ci/run): Find looks for it in $AUTHGATE_HYDRA, then
// tools/hydra/bin/hydra. Tests skip without it unless AUTHGATE_TEST_OIDC is
// set, when they fail.
package hydratest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Available returns the path of the Hydra binary, if there is one.
func Available() (string, bool) {
	cands := []string{os.Getenv("AUTHGATE_HYDRA")}
	if _, file, _, ok := runtime.Caller(0); ok {
		cands = append(cands, filepath.Join(filepath.Dir(file), "..", "..", "tools", "hydra", "bin", "hydra"))
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, true
		}
	}
	return "", false
}

// Find returns the path of the Hydra binary, or skips (fails when
// AUTHGATE_TEST_OIDC is set).
func Find(t testing.TB) string {
	t.Helper()
	if bin, ok := Available(); ok {
		return bin
	}
	msg := "no Ory Hydra binary: build it with `cd tools/hydra && go build -tags sqlite,sqlite_omit_load_extension -o bin/hydra github.com/ory/hydra/v2` or set AUTHGATE_HYDRA"
	if os.Getenv("AUTHGATE_TEST_OIDC") != "" {
		t.Fatal(msg + " (AUTHGATE_TEST_OIDC is set)")
	}
	t.Skip(msg)
	return ""
}

// Person is who signs in at the provider next.
type Person struct {
	Subject       string
	Email         string
	EmailVerified bool
	Username      string
	Groups        []string
	// Deny refuses consent (the provider answers access_denied).
	Deny bool
}

// Hydra is a running provider.
type Hydra struct {
	Issuer   string // public URL, also the issuer
	AdminURL string
	t        testing.TB
	mu       sync.Mutex
	next     Person
	admin    *http.Client
}

// Start runs Hydra with an in-memory database until the test ends.
func Start(t testing.TB) *Hydra {
	t.Helper()
	bin := Find(t)
	pub, adm := freePort(t), freePort(t)
	h := &Hydra{Issuer: "http://127.0.0.1:" + pub, AdminURL: "http://127.0.0.1:" + adm, t: t,
		admin: &http.Client{Timeout: 10 * time.Second}}
	app := &http.Server{Handler: h.appHandler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
	appURL := "http://" + ln.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Env = append(os.Environ(),
		"DSN=memory",
		"SERVE_PUBLIC_PORT="+pub, "SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_ADMIN_PORT="+adm, "SERVE_ADMIN_HOST=127.0.0.1",
		"URLS_SELF_ISSUER="+h.Issuer,
		"URLS_LOGIN="+appURL+"/login",
		"URLS_CONSENT="+appURL+"/consent",
		"SECRETS_SYSTEM="+randomHex(24),
		"LOG_LEVEL=warn",
		"STRATEGIES_ACCESS_TOKEN=opaque",
		"OAUTH2_PKCE_ENFORCED=true",
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start hydra: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("hydra log:\n%s", tail(logs.String(), 4000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(h.Issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("hydra exited: %s", tail(logs.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra did not answer discovery within 60 s: %s", tail(logs.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return h
}

// Client registers an OAuth2 client and returns its ID and secret.
func (h *Hydra) Client(redirectURIs ...string) (id, secret string) {
	h.t.Helper()
	secret = randomHex(16)
	body := map[string]any{
		"client_secret":              secret,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      "openid email profile offline_access",
		"redirect_uris":              redirectURIs,
		"token_endpoint_auth_method": "client_secret_basic",
	}
	var out struct {
		ClientID string `json:"client_id"`
	}
	if err := h.call(http.MethodPost, "/admin/clients", body, &out); err != nil {
		h.t.Fatalf("create hydra client: %v", err)
	}
	return out.ClientID, secret
}

// Next sets who signs in at the next login.
func (h *Hydra) Next(p Person) {
	h.mu.Lock()
	h.next = p
	h.mu.Unlock()
}

func (h *Hydra) person() Person {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next
}

// appHandler serves Hydra's login and consent endpoints.
func (h *Hydra) appHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		p := h.person()
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		ch := url.QueryEscape(r.URL.Query().Get("login_challenge"))
		err := h.call(http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+ch,
			map[string]any{"subject": p.Subject, "remember": false}, &out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		p := h.person()
		ch := url.QueryEscape(r.URL.Query().Get("consent_challenge"))
		var req struct {
			RequestedScope []string `json:"requested_scope"`
		}
		if err := h.call(http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+ch, nil, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		var err error
		if p.Deny {
			err = h.call(http.MethodPut, "/admin/oauth2/auth/requests/consent/reject?consent_challenge="+ch,
				map[string]any{"error": "access_denied", "error_description": "the person said no"}, &out)
		} else {
			claims := map[string]any{"email": p.Email, "email_verified": p.EmailVerified}
			if p.Username != "" {
				claims["preferred_username"] = p.Username
			}
			if p.Groups != nil {
				claims["groups"] = p.Groups
			}
			err = h.call(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+ch,
				map[string]any{"grant_scope": req.RequestedScope, "remember": false,
					"session": map[string]any{"id_token": claims}}, &out)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	})
	return mux
}

// call sends a JSON request to Hydra's admin API.
func (h *Hydra) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.AdminURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.admin.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Browser is an HTTP client with cookies that follows redirects the way a
// browser would, but stops at (and returns) the first response whose URL
// starts with stopAt, without requesting it.
type Browser struct {
	*http.Client
}

// NewBrowser returns a Browser with an empty cookie jar.
func NewBrowser() *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Client: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// FollowUntil requests start and follows redirects until the next location
// starts with stopAt; it returns that location without requesting it.
func (b *Browser) FollowUntil(start, stopAt string) (string, error) {
	next := start
	for range 20 {
		if strings.HasPrefix(next, stopAt) {
			return next, nil
		}
		req, err := http.NewRequest(http.MethodGet, next, nil)
		if err != nil {
			return "", err
		}
		c := *b.Client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return "", fmt.Errorf("GET %s: %d without a redirect: %s", next, resp.StatusCode, raw)
		}
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return "", err
		}
		next = u.String()
	}
	return "", errors.New("too many redirects")
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
