package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The operator's story: the gateway runs on the embedded store (which it
// holds locked); `authgate users` adds a user, and revoking or disabling
// from the shell is honoured by the running gateway on the next request.
func TestUsersCommandWhileTheGatewayRunsOnTheEmbeddedStore(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("upstream")) }))
	defer up.Close()
	dir := t.TempDir()
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	yaml := "listen: " + addr + "\nadmin_listen: \"off\"\ndata_dir: " + dir + "\nupstreams: {default: " + up.URL + "}\n" +
		"passwords: {memory_kib: 1024, iterations: 1, parallelism: 1}\n" +
		"rules: [{path: /api/**, policy: authenticated}]\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "-config", cfgPath}, strings.NewReader(""), io.Discard, &syncWriter{w: &stderr})
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitListening(t, addr)
	users := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errs := runCmd(t, stdin, append([]string{"users"}, append(args, "-config", cfgPath, "-wait", "100ms")...)...)
		if code != 0 {
			t.Fatalf("users %v: exit %d: %s", args, code, errs)
		}
		return out
	}
	users("hank-password-1\n", "add", "hank", "-roles", "user")
	login := func() string {
		t.Helper()
		res, err := http.Post("http://"+addr+"/auth", "application/json", strings.NewReader(`{"username":"hank","password":"hank-password-1"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("login: %d %s", res.StatusCode, b)
		}
		s := string(b)
		i := strings.Index(s, `"access_token":"`) + len(`"access_token":"`)
		return s[i : i+strings.Index(s[i:], `"`)]
	}
	get := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, cmd := range [][]string{{"revoke-sessions", "hank"}, {"disable", "hank"}} {
		tok := login()
		if s := get(tok); s != 200 {
			t.Fatalf("before %s: %d", cmd[0], s)
		}
		users("", cmd...)
		// The command ran inside the gateway: no feed delay, refused at once.
		if s := get(tok); s != 401 {
			t.Fatalf("after %s: the running gateway answered %d", cmd[0], s)
		}
		if cmd[0] == "disable" {
			users("", "enable", "hank")
		}
	}
	if out := users("", "list"); !strings.Contains(out, "hank") {
		t.Fatalf("list: %s", out)
	}
}
