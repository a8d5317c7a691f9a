package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"authgate/config"
)

// markerUpstream answers with which generation's identity header reached
// it: "A", "B", "AB" (both: a mixed decision) or "-" (none).
func markerUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := ""
		if r.Header.Get("X-Gen-A") != "" {
			m += "A"
		}
		if r.Header.Get("X-Gen-B") != "" {
			m += "B"
		}
		if m == "" {
			m = "-"
		}
		_, _ = io.WriteString(w, m)
	}))
	t.Cleanup(up.Close)
	return up
}

// genConfig is config A or B: A names the user-id header X-Gen-A and makes
// /only-a public; B names it X-Gen-B and denies /only-a.
func genConfig(t *testing.T, base, gen string) *config.Config {
	t.Helper()
	policy := map[string]string{"A": "public", "B": "deny"}[gen]
	y := strings.Replace(base, "rules:\n", "rules:\n  - {path: /only-a/**, policy: "+policy+"}\n", 1) +
		"identity_headers: {user_id: X-Gen-" + gen + "}\n"
	cfg, err := config.LoadBytes([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Rules and identity headers flipped back and forth while requests run, on
// the fast path and the Fiber path: every request is decided by exactly one
// of the two configs (the upstream sees exactly one marker, and /only-a is
// let through only with A's marker), none fails, both configs serve.
func TestReloadUnderLoadDecidesEachRequestByOneConfig(t *testing.T) {
	up := markerUpstream(t)
	var base string
	e := newEnv(t, func(y string) string {
		// Every upstream is the marker upstream, from the start, so that
		// the fast path (built for the first config) serves them.
		base = regexp.MustCompile(`http://127\.0\.0\.1:\d+`).ReplaceAllString(y, up.URL)
		return base + "identity_headers: {user_id: X-Gen-A}\n"
	})
	cfgA, cfgB := genConfig(t, base, "A"), genConfig(t, base, "B")
	if _, err := e.g.Reload(cfgA, Options{}); err != nil {
		t.Fatal(err)
	}
	e.addUser("ann", "ann-password-1", "user")
	tok, _ := e.login("ann", "ann-password-1")
	addr, _ := serveFast(t, e)

	var stop atomic.Bool
	var flips atomic.Int64
	go func() {
		for i := 0; !stop.Load(); i++ {
			cfg := cfgA
			if i%2 == 1 {
				cfg = cfgB
			}
			// A fresh copy each time: a generation owns its config.
			c := *cfg
			if _, err := e.g.Reload(&c, Options{}); err != nil {
				t.Errorf("reload: %v", err)
				return
			}
			flips.Add(1)
		}
	}()
	var seen sync.Map
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{}
			for i := 0; i < 150; i++ {
				path := "/api/x"
				if i%2 == 1 {
					path = "/only-a/x"
				}
				method := "GET"
				if w == 3 {
					method = "POST" // a body: the Fiber path, not the fast path
				}
				req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(map[bool]string{true: "body"}[method == "POST"]))
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					t.Errorf("%s %s: %v", method, path, err)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				got := fmt.Sprintf("%s %d %s", path, res.StatusCode, b)
				seen.Store(got, true)
				switch {
				case path == "/api/x" && res.StatusCode == 200 && (string(b) == "A" || string(b) == "B"):
				case path == "/only-a/x" && res.StatusCode == 200 && string(b) == "A":
				case path == "/only-a/x" && res.StatusCode == 403:
				default:
					t.Errorf("%s %s: a request not decided by exactly one config: %q", method, path, got)
				}
			}
		}(w)
	}
	wg.Wait()
	stop.Store(true)
	if served, _, _ := e.g.fast.Load().Counts(); served == 0 {
		t.Error("the fast path served none of the requests")
	}
	if flips.Load() < 2 {
		t.Fatalf("only %d reloads happened during the load", flips.Load())
	}
	for _, want := range []string{"/api/x 200 A", "/api/x 200 B", "/only-a/x 200 A", "/only-a/x 403"} {
		found := false
		seen.Range(func(k, _ any) bool {
			found = found || strings.HasPrefix(k.(string), want)
			return !found
		})
		if !found {
			t.Errorf("no request answered %q: one config never served", want)
		}
	}
}

// Settings that cannot change live keep their values and are named; a
// failed reload leaves the running generation and shows in /readyz and the
// metrics; a good one clears it.
func TestReloadKeepsFixedSettingsAndReportsFailures(t *testing.T) {
	e := newEnv(t, nil)
	cfg, err := config.LoadBytes([]byte(strings.Replace(e.yaml, `listen: "127.0.0.1:0"`, `listen: "127.0.0.1:1"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routes.Login = "/elsewhere"
	kept, err := e.g.Reload(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(kept, ",") != "listen,routes" {
		t.Errorf("kept = %v, want listen and routes named", kept)
	}
	if cur := e.g.root.cur.Load(); cur.cfg.Listen != "127.0.0.1:0" || cur.cfg.Routes.Login != "/auth" {
		t.Errorf("fixed settings changed live: listen %q, login route %q", cur.cfg.Listen, cur.cfg.Routes.Login)
	}
	if r := e.do("GET", "/readyz", ""); !strings.Contains(string(r.body), `"last_reload":"success"`) {
		t.Errorf("readyz after a good reload: %s", r.body)
	}
	before := e.g.root.cur.Load()
	e.g.ReloadFailed(fmt.Errorf("rules[0].policy: unknown policy %q", "maybe"))
	if e.g.root.cur.Load() != before {
		t.Error("a failed reload replaced the running generation")
	}
	r := e.do("GET", "/readyz", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"last_reload":"failure"`) || !strings.Contains(string(r.body), "rules[0].policy") {
		t.Errorf("readyz after a failed reload: %d %s", r.status, r.body)
	}
	m := string(e.admin("GET", "/metrics").body)
	for _, want := range []string{`authgate_config_reloads_total{result="failure"} 1`, `authgate_config_reloads_total{result="success"} 1`, "authgate_config_last_reload_successful 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Keys rotate with reloads: a new signing key with the old one kept
// verify_only, then the old one dropped.
func TestReloadRotatesTokenKeys(t *testing.T) {
	const k1 = "{kid: k1, alg: HS256, secret: 0123456789abcdef0123456789abcdef-k1}"
	const k2 = "{kid: k2, alg: HS256, secret: 0123456789abcdef0123456789abcdef-k2}"
	e := newEnv(t, func(y string) string { return y + "tokens: {keys: [" + k1 + "]}\n" })
	e.addUser("kim", "kim-password-1", "user")
	old, _ := e.login("kim", "kim-password-1")
	reload := func(keys string) {
		t.Helper()
		cfg, err := config.LoadBytes([]byte(strings.Replace(e.yaml, "tokens: {keys: ["+k1+"]}", "tokens: {keys: ["+keys+"]}", 1)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.g.Reload(cfg, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	reload(k2 + ", {kid: k1, alg: HS256, secret: 0123456789abcdef0123456789abcdef-k1, verify_only: true}")
	fresh, _ := e.login("kim", "kim-password-1")
	for name, tok := range map[string]string{"old key, verify_only": old, "new signing key": fresh} {
		if r := e.do("GET", "/api/x", "", bearer(tok)...); r.status != 200 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	reload(k2)
	if r := e.do("GET", "/api/x", "", bearer(old)...); r.status != 401 {
		t.Errorf("a token of a dropped key: %d", r.status)
	}
	if r := e.do("GET", "/api/x", "", bearer(fresh)...); r.status != 200 {
		t.Errorf("a token of the signing key: %d", r.status)
	}
}
