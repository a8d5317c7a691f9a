package usercmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/config"
	"authgate/gateway"
)

// On Redis the command opens the store itself; a gateway running on the
// same Redis honours its revocations through the store's feed, with no store
// call on its hot path: the same path an admin API call takes.
func TestCommandsOnRedisAreHonouredByARunningGateway(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: 15, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
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
		iter := c.Scan(context.Background(), 0, prefix+"*", 500).Iterator()
		for iter.Next(context.Background()) {
			c.Del(context.Background(), iter.Val())
		}
	})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	defer up.Close()
	path, cfg := writeConfig(t, "store: {type: redis, redis: {url: \"redis://127.0.0.1:6379/15\", prefix: \""+prefix+"\"}}\n"+
		"upstreams: {default: "+up.URL+"}\nrules: [{path: /api/**, policy: authenticated}]\n"+
		"tokens: {keys: [{kid: shared, alg: HS256, secret: 0123456789abcdef0123456789abcdef}]}\n")

	g := startGateway(t, ctx, cfg)
	if o := users(t, path, "grace-password-1\n", "add", "grace"); o.code != 0 {
		t.Fatalf("add: %+v", o)
	}
	login := func() string {
		t.Helper()
		req := httptest.NewRequest("POST", "/auth", strings.NewReader(`{"username":"grace","password":"grace-password-1"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := g.App().Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("login: %d %s", res.StatusCode, body)
		}
		s := string(body)
		i := strings.Index(s, `"access_token":"`) + len(`"access_token":"`)
		return s[i : i+strings.Index(s[i:], `"`)]
	}
	// status of a proxied request with the token; a refusal becomes 401
	// once the feed has brought the revocation.
	statusOf := func(tok string) int {
		req := httptest.NewRequest("GET", "/api/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := g.App().Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitStatus := func(what, tok string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for statusOf(tok) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the running gateway still answers %d, want %d", what, statusOf(tok), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, step := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"revoke-sessions", "grace"}, ""},
		{[]string{"set-password", "grace"}, "grace-password-1\n"},
		{[]string{"disable", "grace"}, ""},
	} {
		tok := login()
		waitStatus("before "+step.args[0], tok, 200)
		if o := users(t, path, step.stdin, step.args...); o.code != 0 {
			t.Fatalf("%v: %+v", step.args, o)
		}
		waitStatus("after "+step.args[0], tok, 401)
		if step.args[0] == "disable" {
			if o := users(t, path, "", "enable", "grace"); o.code != 0 {
				t.Fatalf("enable: %+v", o)
			}
			login()
		}
	}
	if o := users(t, path, "", "list", "-json"); o.code != 0 || !strings.Contains(o.stdout, `"username":"grace"`) {
		t.Fatalf("list: %+v", o)
	}
}

func startGateway(t *testing.T, ctx context.Context, cfg *config.Config) *gateway.Gateway {
	t.Helper()
	st, limits, err := gateway.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	g, err := gateway.New(cfg, st, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LimiterStore: limits})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return g
}
