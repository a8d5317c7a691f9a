package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestLoginQueuedBehindBusyHashingIsOverloadNotAStoreOutage: every hashing
// slot is taken (a flood of logins) until the login's deadline. The answer
// is 503 overloaded with Retry-After, counted in authgate_overloaded_total
// and logins{outcome="overloaded"}, logged as a warning, never as an error
// and never as store-unavailable: the store is fine.
func TestLoginQueuedBehindBusyHashingIsOverloadNotAStoreOutage(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, "passwords: {memory_kib: 1024, iterations: 1, parallelism: 1}",
			"passwords: {memory_kib: 1024, iterations: 1, parallelism: 1, max_concurrent: 1}", 1)
	})
	e.addUser("alice", "alice-password-1", "user")
	var logs bytes.Buffer
	e.g.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	release, err := e.g.hasher.Reserve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1"))
	release()
	mustStatus(t, "login while hashing is saturated", r, 503, "overloaded")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 overloaded without Retry-After")
	}
	if n := series(t, e.g.metrics, "authgate_overloaded_total")[""]; n != 1 {
		t.Errorf("authgate_overloaded_total = %v, want 1", n)
	}
	logins := series(t, e.g.metrics, "authgate_logins_total")
	if logins["overloaded"] != 1 || logins["error"] != 0 {
		t.Errorf("authgate_logins_total = %v, want overloaded 1 and no error", logins)
	}
	out := logs.String()
	if strings.Contains(out, "level=ERROR") || strings.Contains(out, "store-unavailable") {
		t.Errorf("overload logged as a failure:\n%s", out)
	}
	if !strings.Contains(out, "level=WARN") {
		t.Errorf("overload not logged as a warning:\n%s", out)
	}
	// Once a slot is free, the same login succeeds.
	mustStatus(t, "login after the flood", e.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1")), 200, "")
}
