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
	"syscall"
	"testing"
	"time"
)

// SIGHUP reloads the file: a changed rule applies without a restart; an
// invalid file is logged with its YAML path and the running config stays;
// a setting that cannot change live is named.
func TestSIGHUPReloadsTheConfig(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up")) }))
	defer up.Close()
	dir := t.TempDir()
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	write := func(policy, extra string) {
		t.Helper()
		y := "listen: " + addr + "\nadmin_listen: \"off\"\ndata_dir: " + dir + "\nupstreams: {default: " + up.URL + "}\n" +
			"rules: [{path: /p/**, policy: " + policy + "}]\n" + extra
		if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("public", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	sw := &syncWriter{w: &stderr}
	go func() { done <- run(ctx, []string{"serve", "-config", cfgPath}, strings.NewReader(""), io.Discard, sw) }()
	defer func() {
		cancel()
		<-done
	}()
	waitListening(t, addr)
	get := func(path string) (int, string) {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s; log:\n%s", what, sw.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if s, _ := get("/p/x"); s != 200 {
		t.Fatalf("before: %d", s)
	}
	write("deny", "")
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("the changed rule did not apply", func() bool { s, _ := get("/p/x"); return s == 403 })

	write("maybe", "")
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("the invalid config was not reported", func() bool { return strings.Contains(sw.String(), "rules[0].policy") })
	if s, _ := get("/p/x"); s != 403 {
		t.Fatalf("after an invalid config the running one must stay: %d", s)
	}
	if _, body := get("/readyz"); !strings.Contains(body, `"last_reload":"failure"`) {
		t.Errorf("readyz: %s", body)
	}

	write("public", "log: {level: debug}\n")
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("the fixed setting was not named", func() bool { return strings.Contains(sw.String(), "cannot change while authgate runs") })
	if s, _ := get("/p/x"); s != 200 {
		t.Fatalf("after the good reload: %d", s)
	}
	if !strings.Contains(sw.String(), "[log]") && !strings.Contains(sw.String(), "settings=log") {
		t.Errorf("log lacks the kept setting's name:\n%s", sw.String())
	}
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.w.(*bytes.Buffer); ok {
		return b.String()
	}
	return ""
}
