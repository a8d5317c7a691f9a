package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests use the Redis at testAddr, database testDB, under a random key
// prefix per test whose keys they delete afterwards. Without a Redis there
// they skip, unless AUTHGATE_TEST_REDIS is set: then they fail.
const (
	testAddr = "127.0.0.1:6379"
	testDB   = 15
)

// requireRedis skips or fails t when no Redis answers at testAddr.
func requireRedis(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testAddr, DB: testDB, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("AUTHGATE_TEST_REDIS") != "" {
			t.Fatalf("AUTHGATE_TEST_REDIS is set but Redis at %s does not answer: %v", testAddr, err)
		}
		t.Skipf("no Redis at %s (set AUTHGATE_TEST_REDIS to make this a failure): %v", testAddr, err)
	}
}

// newClient returns a client of the test database named name (may be "").
func newClient(name string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: testAddr, DB: testDB, ClientName: name})
}

// randomHex returns n random bytes in hex.
func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// newPrefix returns a fresh key prefix whose keys are deleted when t ends.
func newPrefix(t testing.TB) string {
	t.Helper()
	requireRedis(t)
	prefix := "authgate-test-" + randomHex(t, 6) + ":"
	t.Cleanup(func() { deleteKeys(t, prefix) })
	return prefix
}

// deleteKeys deletes every key of the test database under prefix.
func deleteKeys(t testing.TB, prefix string) {
	c := newClient("")
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan keys of %s: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := c.Unlink(ctx, keys[:n]...).Err(); err != nil {
			t.Errorf("delete keys of %s: %v", prefix, err)
			return
		}
		keys = keys[n:]
	}
}

// newStore returns a store on the test database under a fresh prefix,
// closed when t ends.
func newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s := New(newClient(""), newPrefix(t), opts...)
	t.Cleanup(func() { s.Close() })
	return s
}
