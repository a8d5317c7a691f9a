package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"authgate/config"
)

// hsTokens returns HS256 Tokens (the fastest to issue) with the clock at
// testNow and the given cache size in its config.
func hsTokens(t testing.TB) *Tokens {
	t.Helper()
	return newTestTokens(t, tokensConfig(config.Key{Kid: "hs", Alg: "HS256", Secret: hsSecret}))
}

func issue(t testing.TB, tk *Tokens, sid string, now time.Time) string {
	t.Helper()
	tok, _, err := tk.Issue("u-"+sid, sid, "alice", "", []string{"user"}, false, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthenticateServesRepeatedTokensFromCache(t *testing.T) {
	tk := hsTokens(t)
	v := NewVerifier(tk, NewRevocations(), 1000)
	tok := issue(t, tk, "s1", testNow)
	first, err := v.Authenticate(tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if v.Cached() != 1 {
		t.Fatalf("Cached = %d after one token, want 1", v.Cached())
	}
	second, err := v.Authenticate(tok, testNow.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("second Authenticate verified the token again instead of using the cache")
	}
}

func TestAuthenticateWithoutCacheStillVerifies(t *testing.T) {
	tk := hsTokens(t)
	v := NewVerifier(tk, nil, 0)
	tok := issue(t, tk, "s1", testNow)
	a, err := v.Authenticate(tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Authenticate(tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || v.Cached() != 0 {
		t.Error("cache size 0 still caches")
	}
	if _, err := v.Authenticate(tok+"x", testNow); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("tampered token: err %v, want ErrTokenInvalid", err)
	}
}

func TestAuthenticateRechecksExpiryOnEveryHit(t *testing.T) {
	tk := hsTokens(t)
	v := NewVerifier(tk, nil, 1000)
	tok := issue(t, tk, "s1", testNow)
	if _, err := v.Authenticate(tok, testNow); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		at      time.Duration
		wantErr error
	}{
		{"before exp", 14 * time.Minute, nil},
		{"past exp within leeway", 15*time.Minute + 29*time.Second, nil},
		{"past exp and leeway", 15*time.Minute + 30*time.Second, ErrTokenExpired},
		{"long after", 24 * time.Hour, ErrTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Authenticate(tok, testNow.Add(tt.at))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if (err == nil) != (c != nil) {
				t.Errorf("claims %v with error %v", c, err)
			}
		})
	}
}

func TestAuthenticateRefusesExpiredTokenOnFirstSight(t *testing.T) {
	tk := hsTokens(t)
	v := NewVerifier(tk, nil, 1000)
	tok := issue(t, tk, "s1", testNow)
	// The parser's clock says valid, the caller's now says expired.
	if _, err := v.Authenticate(tok, testNow.Add(time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("err %v, want ErrTokenExpired", err)
	}
}

func TestAuthenticateRefusesRevokedSession(t *testing.T) {
	tk := hsTokens(t)
	rev := NewRevocations()
	rev.clock = func() time.Time { return testNow }
	v := NewVerifier(tk, rev, 1000)
	cached := issue(t, tk, "s1", testNow)
	fresh := issue(t, tk, "s1", testNow)
	other := issue(t, tk, "s2", testNow)
	if _, err := v.Authenticate(cached, testNow); err != nil {
		t.Fatal(err)
	}

	rev.Add("s1", testNow.Add(16*time.Minute))
	for name, tok := range map[string]string{"cached token": cached, "token not seen before": fresh} {
		c, err := v.Authenticate(tok, testNow)
		if !errors.Is(err, ErrTokenRevoked) || c != nil {
			t.Errorf("%s of a revoked session: claims %v, err %v; want ErrTokenRevoked", name, c, err)
		}
	}
	if _, err := v.Authenticate(other, testNow); err != nil {
		t.Errorf("token of another session refused: %v", err)
	}
}

func TestCacheStaysWithinItsBound(t *testing.T) {
	tk := hsTokens(t)
	for _, size := range []int{1, 300, 600} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			v := NewVerifier(tk, nil, size)
			if size >= 600 && len(v.shards) < 2 {
				t.Fatalf("size %d has %d shard(s): the sharded bound is not exercised", size, len(v.shards))
			}
			for i := range 2*size + 10 {
				tok := issue(t, tk, fmt.Sprintf("s%d", i), testNow)
				if _, err := v.Authenticate(tok, testNow); err != nil {
					t.Fatal(err)
				}
				if n := v.Cached(); n > size {
					t.Fatalf("after %d tokens the cache holds %d, bound %d", i+1, n, size)
				}
			}
			if n := v.Cached(); n < size/2 {
				t.Errorf("cache holds only %d of %d: evicting too much", n, size)
			}
		})
	}
}

func TestCacheEvictsExpiredTokensFirst(t *testing.T) {
	tk := hsTokens(t)
	v := NewVerifier(tk, nil, 256) // one shard of 256
	if len(v.shards) != 1 {
		t.Fatalf("%d shards, test expects 1", len(v.shards))
	}
	for i := range 256 {
		if _, err := v.Authenticate(issue(t, tk, fmt.Sprintf("old%d", i), testNow), testNow); err != nil {
			t.Fatal(err)
		}
	}
	later := testNow.Add(time.Hour) // every cached token has expired
	tk.clock = func() time.Time { return later }
	var fresh []string
	for i := range 10 {
		tok := issue(t, tk, fmt.Sprintf("new%d", i), later)
		fresh = append(fresh, tok)
		if _, err := v.Authenticate(tok, later); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.Cached(); n != 10 {
		t.Errorf("Cached = %d, want the 10 fresh tokens only", n)
	}
	for _, tok := range fresh {
		v.shards[0].mu.RLock()
		_, ok := v.shards[0].m[tok]
		v.shards[0].mu.RUnlock()
		if !ok {
			t.Error("a fresh token was evicted while expired ones could go")
		}
	}
}

func TestCacheKeepsItsOwnCopyOfTheToken(t *testing.T) {
	tk := hsTokens(t)
	v := NewVerifier(tk, nil, 1000)
	tok := issue(t, tk, "s1", testNow)
	// fasthttp hands out strings that alias buffers it reuses.
	buf := []byte(tok)
	aliased := unsafe.String(&buf[0], len(buf))
	first, err := v.Authenticate(aliased, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	second, err := v.Authenticate(tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("cache entry lost after the caller's buffer was reused: key not copied")
	}
}

func TestAuthenticateCacheHitDoesNotAllocate(t *testing.T) {
	tk := hsTokens(t)
	rev := NewRevocations()
	rev.Add("other", time.Now().Add(time.Hour))
	v := NewVerifier(tk, rev, 1000)
	tok := issue(t, tk, "s1", testNow)
	if _, err := v.Authenticate(tok, testNow); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.Authenticate(tok, testNow); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("cache hit allocates %v times", allocs)
	}
}

func TestAuthenticateConcurrently(t *testing.T) {
	tk := hsTokens(t)
	rev := NewRevocations()
	v := NewVerifier(tk, rev, 64)
	toks := make([]string, 100)
	for i := range toks {
		toks[i] = issue(t, tk, fmt.Sprintf("s%d", i), testNow)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				tok := toks[(i*7+g)%len(toks)]
				c, err := v.Authenticate(tok, testNow)
				if err != nil || c.SessionID == "" {
					t.Errorf("Authenticate: %v", err)
					return
				}
				if i%50 == 0 {
					rev.Add(fmt.Sprintf("x%d-%d", g, i), time.Now().Add(time.Hour))
				}
			}
		}()
	}
	wg.Wait()
	if n := v.Cached(); n > 64 {
		t.Errorf("Cached = %d, bound 64", n)
	}
}
