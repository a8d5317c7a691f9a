package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
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

// With reload.watch the file is reloaded when it changes on disk, however
// it is replaced: written in place, renamed over by an editor, or swapped
// by a Kubernetes ConfigMap update (a "..data" symlink); a touch that
// leaves the bytes alone reloads nothing, and an invalid file leaves the
// running config in place.
func TestWatchReloadsTheConfigWhenTheFileChanges(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up")) }))
	defer up.Close()
	dir := t.TempDir()
	addr := freePort(t)
	// The ConfigMap layout: gateway.yaml -> ..data/gateway.yaml, and
	// ..data -> ..v1, a directory the kubelet replaces as a whole.
	cfgPath := filepath.Join(dir, "gateway.yaml")
	version := 0
	content := func(policy string) []byte {
		return []byte("listen: " + addr + "\nadmin_listen: \"off\"\ndata_dir: " + dir + "\nupstreams: {default: " + up.URL + "}\n" +
			"reload: {watch: true}\nrules: [{path: /p/**, policy: " + policy + "}]\n")
	}
	swap := func(policy string) { // what the kubelet does
		t.Helper()
		version++
		v := filepath.Join(dir, "..v"+strconv.Itoa(version))
		if err := os.Mkdir(v, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v, "gateway.yaml"), content(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(v), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	swap("public")
	if err := os.Symlink(filepath.Join("..data", "gateway.yaml"), cfgPath); err != nil {
		t.Fatal(err)
	}

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
	status := func() int {
		res, err := http.Get("http://" + addr + "/p/x")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
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
	reloads := func() int { return strings.Count(sw.String(), "config reloaded") }
	waitFor("the watch did not start", func() bool { return strings.Contains(sw.String(), "config watch: reloading when the file changes") })
	if s := status(); s != 200 {
		t.Fatalf("before: %d", s)
	}

	swap("deny")
	waitFor("a ConfigMap-style symlink swap was not reloaded", func() bool { return status() == 403 })

	// An editor's save: a new file renamed over the old name (the symlink
	// is replaced by a regular file).
	tmp := filepath.Join(dir, "gateway.yaml.swp")
	if err := os.WriteFile(tmp, content("public"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cfgPath); err != nil {
		t.Fatal(err)
	}
	waitFor("a rename over the file was not reloaded", func() bool { return status() == 200 })

	// Written in place.
	if err := os.WriteFile(cfgPath, content("deny"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("a write in place was not reloaded", func() bool { return status() == 403 })
	waitFor("the reload was not logged", func() bool { return reloads() == 3 })

	// Same bytes: a touch reloads nothing.
	now := time.Now()
	if err := os.Chtimes(cfgPath, now, now); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, content("deny"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * watchSettle)
	if n := reloads(); n != 3 {
		t.Errorf("unchanged bytes reloaded the config: %d reloads, want 3", n)
	}

	// An invalid file: logged with its path, the running config stays.
	if err := os.WriteFile(cfgPath, content("maybe"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the invalid config was not reported", func() bool { return strings.Contains(sw.String(), "rules[0].policy") })
	if s := status(); s != 403 {
		t.Fatalf("after an invalid config the running one must stay: %d", s)
	}
}
