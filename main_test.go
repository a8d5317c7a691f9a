package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/auth"
	"authgate/config"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckAcceptsTheShippedConfig(t *testing.T) {
	code, out, errs := runCmd(t, "", "check", "-config", "gateway.yaml")
	if code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("check gateway.yaml: %d %q %q", code, out, errs)
	}
}

func TestCheckNamesEveryProblemWithItsPath(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	yaml := `
listen: ":8080"
store: {type: cassandra}
rules:
  - {path: /api/**, policy: authenticated, methods: ["G T"]}
  - {path: /x, policy: maybe}
  - {path: /api/users, policy: public}
unknown_key: 1
`
	if err := os.WriteFile(bad, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd(t, "", "check", "-config", bad)
	if code == 0 {
		t.Fatal("check accepted a bad config")
	}
	for _, want := range []string{"store.type", `rules[0].methods[0]`, "G T", "rules[1].policy", "unknown_key"} {
		if !strings.Contains(errs, want) {
			t.Errorf("check output lacks %q:\n%s", want, errs)
		}
	}
}

func TestCheckWarnsAboutShadowedRules(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "g.yaml")
	yaml := "data_dir: " + dir + "\nrules:\n  - {path: /api/**, policy: authenticated}\n  - {path: /api/users, policy: public}\n"
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AUTHGATE_CONFIG", p)
	code, out, errs := runCmd(t, "", "check")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("warnings must not fail check: %d %s %s", code, out, errs)
	}
	if !strings.Contains(errs, "warning: rules[1]") {
		t.Errorf("no shadowing warning for rules[1]:\n%s", errs)
	}
}

func TestHashPasswordPrintsAVerifiableArgon2idHash(t *testing.T) {
	code, out, errs := runCmd(t, "s3cret-password\n", "hash-password")
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	h := strings.TrimSpace(out)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	cfg := &config.Config{}
	config.ApplyDefaults(cfg)
	ok, _, err := auth.NewHasher(cfg.Passwords).Verify(context.Background(), h, "s3cret-password")
	if err != nil || !ok {
		t.Fatalf("hash does not verify: %v %v", ok, err)
	}
	for name, in := range map[string]string{"empty": "", "invalid UTF-8": "s3cret-\xffpassword\n", "U+FFFD": "s3cret-\uFFFDpassword\n"} {
		if code, out, _ := runCmd(t, in, "hash-password"); code == 0 {
			t.Errorf("%s password accepted: %s", name, out)
		}
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "authgate ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown: %d %q", code, errs)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// SIGTERM (a cancelled context here) lets an in-flight proxied request
// finish, then serve exits 0; the embedded store is closed cleanly.
func TestServeDrainsInFlightRequestsOnShutdown(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = w.Write([]byte("done"))
	}))
	defer up.Close()
	dir := t.TempDir()
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	yaml := "listen: " + addr + "\nadmin_listen: 127.0.0.1:0\ndata_dir: " + dir + "\nupstreams: {default: " + up.URL + "}\n" +
		"rules: [{path: /public/**, policy: public}]\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "-config", cfgPath}, strings.NewReader(""), io.Discard, &syncWriter{w: &stderr})
	}()

	waitListening(t, addr)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/public/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	// Shut down only once the request is in flight at the upstream (a
	// fixed sleep lost the race on a loaded machine).
	select {
	case <-arrived:
	case body := <-got:
		t.Fatalf("request ended before reaching the upstream: %q", body)
	case <-time.After(20 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	cancel() // SIGTERM
	time.Sleep(100 * time.Millisecond)
	close(release)
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request: %q", body)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after shutdown")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// waitListening waits until the gateway started by a test accepts
// connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
