package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisEnvs starts n gateways sharing one real Redis (database 15, a fresh
// key prefix deleted afterwards), as instances behind a load balancer do.
func redisEnvs(t testing.TB, n int, edit func(string) string) []*testEnv {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: 15, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("AUTHGATE_TEST_REDIS") != "" {
			t.Fatalf("AUTHGATE_TEST_REDIS is set but Redis does not answer: %v", err)
		}
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "authgate-test-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	var envs []*testEnv
	for i := 0; i < n; i++ {
		envs = append(envs, newEnv(t, func(y string) string {
			y = strings.Replace(y, "store: {type: memory}",
				"store: {type: redis, redis: {url: \"redis://127.0.0.1:6379/15\", prefix: \""+prefix+"\"}}", 1)
			// Instances share a configured key, as they must in production.
			y += "tokens:\n  keys:\n    - {kid: shared, alg: HS256, secret: 0123456789abcdef0123456789abcdef}\n"
			if edit != nil {
				y = edit(y)
			}
			return y
		}))
	}
	return envs
}

func TestInstancesOnOneRedisShareSessionsAndRevocations(t *testing.T) {
	envs := redisEnvs(t, 2, nil)
	a, b := envs[0], envs[1]
	a.addUser("alice", "alice-password-1", "user")
	access, refresh := a.login("alice", "alice-password-1")
	if r := b.do("GET", "/api/x", "", bearer(access)...); r.status != 200 {
		t.Fatalf("token from A refused by B: %d %s", r.status, r.body)
	}
	// Refresh on B, reuse of the spent token on A revokes everywhere.
	r := b.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
	if r.status != 200 {
		t.Fatalf("refresh on B: %d %s", r.status, r.body)
	}
	access2 := r.json(t)["access_token"].(string)
	if r := a.do("GET", "/me", "", bearer(access2)...); r.status != 200 {
		t.Fatalf("B's token on A: %d", r.status)
	}
	// Logout on A: once Redis pub/sub has delivered the revocation (A's
	// logout answers after its own copy came back, so B's is on the wire),
	// B refuses the token with no store call of its own.
	if r := a.do("POST", "/logout", "", bearer(access2)...); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	waitRevoked(t, b, access2)
	if r := b.do("GET", "/api/x", "", bearer(access2)...); r.status != 401 {
		t.Fatalf("B accepted a token logged out on A: %d", r.status)
	}
	if r := b.do("GET", "/api/x", "", bearer(access)...); r.status != 401 {
		t.Fatalf("B accepted the session's older token: %d", r.status)
	}
}

func TestRefreshReuseOnAnotherInstanceRevokesEverywhere(t *testing.T) {
	envs := redisEnvs(t, 2, withGrace("0s"))
	a, b := envs[0], envs[1]
	a.addUser("alice", "alice-password-1", "user")
	access, refresh := a.login("alice", "alice-password-1")
	a.refresh(refresh)
	if r := b.do("GET", "/api/x", "", bearer(access)...); r.status != 200 {
		t.Fatalf("before reuse: %d", r.status)
	}
	if r := b.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`); r.status != 401 {
		t.Fatalf("reuse on B: %d", r.status)
	}
	waitRevoked(t, a, access)
	if r := a.do("GET", "/api/x", "", bearer(access)...); r.status != 401 {
		t.Fatalf("A accepted a token of a session revoked on B: %d", r.status)
	}
}

// TestAReplayOnAnotherInstanceGetsTheSameToken: instances share the key
// successors are derived with (kept in Redis), so a retry that lands on
// another instance is a replay there too.
func TestAReplayOnAnotherInstanceGetsTheSameToken(t *testing.T) {
	envs := redisEnvs(t, 2, nil)
	a, b := envs[0], envs[1]
	a.addUser("alice", "alice-password-1", "user")
	access, refresh := a.login("alice", "alice-password-1")
	_, next := a.refresh(refresh)
	accessB, nextB := b.refresh(refresh)
	if nextB != next {
		t.Fatal("instance B handed out another successor than A for the same token")
	}
	for _, tok := range []string{access, accessB} {
		if r := a.do("GET", "/api/x", "", bearer(tok)...); r.status != 200 {
			t.Fatalf("a replay on B revoked the session: %d", r.status)
		}
	}
	b.refresh(next)
}

func TestRateLimitsAreSharedThroughRedis(t *testing.T) {
	envs := redisEnvs(t, 2, func(y string) string {
		return strings.Replace(y, `login_per_ip: "1000-M"`, `login_per_ip: "3-M"`, 1)
	})
	body := `{"username":"nobody","password":"whatever-pw"}`
	for i, e := range []*testEnv{envs[0], envs[1], envs[0]} {
		if r := e.do("POST", "/auth", body); r.status != 401 {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	if r := envs[1].do("POST", "/auth", body); r.status != 429 {
		t.Fatalf("4th attempt across instances: %d", r.status)
	}
}

func TestRestartKeepsUsersSessionsAndRevocationsInRedis(t *testing.T) {
	envs := redisEnvs(t, 1, nil)
	a := envs[0]
	a.addUser("alice", "alice-password-1", "user")
	access, refresh := a.login("alice", "alice-password-1")
	other, _ := a.login("alice", "alice-password-1")
	if r := a.do("POST", "/logout", "", bearer(other)...); r.status != 204 {
		t.Fatal(r.status)
	}
	// A second instance started later (as after a restart) knows it all.
	b := newEnvLike(t, a)
	if r := b.do("GET", "/me", "", bearer(access)...); r.status != 200 {
		t.Fatalf("session lost: %d", r.status)
	}
	if r := b.do("GET", "/me", "", bearer(other)...); r.status != 401 {
		t.Fatalf("revocation lost: %d", r.status)
	}
	if r := b.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`); r.status != 200 {
		t.Fatalf("refresh token lost: %d", r.status)
	}
}

// waitRevoked waits until e's in-memory revocation set holds the session
// of tok, as delivered by the store's feed; it fails after 10 s.
func waitRevoked(t *testing.T, e *testEnv, tok string) {
	t.Helper()
	claims, err := e.g.tokens.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !e.g.revoked.Revoked(claims.SessionID) {
		if time.Now().After(deadline) {
			t.Fatalf("revocation of session %s never reached the other instance", claims.SessionID)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLogoutOnOneInstanceIsRefusedByAnothersFastPath: B serves through its
// event loops; a logout on A is refused by B's loops on the next request of
// the same keep-alive connection.
func TestLogoutOnOneInstanceIsRefusedByAnothersFastPath(t *testing.T) {
	envs := redisEnvs(t, 2, nil)
	a, b := envs[0], envs[1]
	a.addUser("carol", "carol-password-1", "user")
	access, _ := a.login("carol", "carol-password-1")
	addr, _ := serveFast(t, b)
	c := dial(t, addr)
	served0, _, _ := b.g.fast.Load().Counts()
	if r := c.send("GET", get("/api/x", authz(access))); r.status != 200 {
		t.Fatalf("A's token on B's fast path: %d %s", r.status, r.body)
	}
	if served, _, _ := b.g.fast.Load().Counts(); served != served0+1 {
		t.Fatalf("B's loops served %d requests, want 1", served-served0)
	}
	if r := a.do("POST", "/logout", "", bearer(access)...); r.status != 204 {
		t.Fatalf("logout on A: %d", r.status)
	}
	waitRevoked(t, b, access)
	if r := c.send("GET", get("/api/x", authz(access))); r.status != 401 {
		t.Fatalf("B's fast path accepted a token logged out on A: %d", r.status)
	}
}
