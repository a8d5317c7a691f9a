package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
	"authgate/store/storetest"
)

func TestContract(t *testing.T) {
	requireRedis(t)
	storetest.Run(t,
		func(t *testing.T) store.Store { return New(newClient(""), newPrefix(t)) },
		storetest.WithSibling(func(t *testing.T, s store.Store) store.Store {
			return New(newClient(""), s.(*Store).prefix)
		}))
}

func TestStoreOfAnUnreachableRedisIsUnavailable(t *testing.T) {
	client := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1,
	})
	s := New(client, "authgate-test-down:")
	defer s.Close()
	storetest.RunUnavailable(t, s, false)
}

func TestWatchOfAnUnreachableRedisWaitsWithoutResyncingAndStopsWithItsContext(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	s := New(client, "authgate-test-down:", WithHealthCheck(100*time.Millisecond))
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	reconnects := 0
	if err := s.WatchRevocations(ctx, func(string, time.Time) {}, func() { reconnects++ }); err != nil {
		t.Fatalf("WatchRevocations = %v, want nil when its context ends", err)
	}
	if reconnects != 0 {
		t.Fatalf("reconnect called %d times without a connection", reconnects)
	}
}

// watchEvents runs WatchRevocations on s and reports on two channels.
func watchEvents(t *testing.T, s *Store) (events chan string, reconnects chan struct{}) {
	events, reconnects = make(chan string, 100), make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WatchRevocations(ctx, func(sid string, _ time.Time) { events <- sid }, func() { reconnects <- struct{}{} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return events, reconnects
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

func TestWatchResyncsAndKeepsDeliveringAfterItsConnectionIsKilled(t *testing.T) {
	prefix := newPrefix(t)
	name := "authgate-test-" + randomHex(t, 6)
	watching := New(newClient(name), prefix, WithHealthCheck(200*time.Millisecond))
	defer watching.Close()
	revoking := New(newClient(""), prefix)
	defer revoking.Close()
	events, reconnects := watchEvents(t, watching)
	receive(t, reconnects, "reconnect at start")

	admin := newClient("")
	defer admin.Close()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		if !contains(fields, "name="+name) || !contains(fields, "cmd=subscribe") && !hasFlag(fields, 'P') {
			continue
		}
		for _, f := range fields {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatalf("CLIENT KILL ID %s: %v", id, err)
				}
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no subscribed connection named %s in CLIENT LIST:\n%s", name, list)
	}
	receive(t, reconnects, "reconnect after the connection was killed")
	if err := revoking.RevokeSession(ctx, "after-kill", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if got := receive(t, events, "revocation after reconnecting"); got != "after-kill" {
		t.Fatalf("watch reported %q, want after-kill", got)
	}
}

func contains(fields []string, want string) bool {
	for _, f := range fields {
		if f == want {
			return true
		}
	}
	return false
}

// hasFlag reports whether the flags= field of a CLIENT LIST line has flag.
func hasFlag(fields []string, flag byte) bool {
	for _, f := range fields {
		if flags, ok := strings.CutPrefix(f, "flags="); ok {
			return strings.IndexByte(flags, flag) >= 0
		}
	}
	return false
}

func TestUnreadableRevocationMessageTriggersAResync(t *testing.T) {
	s := newStore(t)
	events, reconnects := watchEvents(t, s)
	receive(t, reconnects, "reconnect at start")
	ctx := context.Background()
	for _, payload := range []string{"garbage", "v1 notanumber sid", "v2 1 sid", "v1 123"} {
		if err := s.client.Publish(ctx, s.revocationsChannel(), payload).Err(); err != nil {
			t.Fatalf("PUBLISH: %v", err)
		}
		receive(t, reconnects, fmt.Sprintf("resync after %q", payload))
	}
	if err := s.RevokeSession(ctx, "good", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if got := receive(t, events, "revocation"); got != "good" {
		t.Fatalf("watch reported %q first, want good", got)
	}
}

func TestRecordsThatExpireCarryARedisTTL(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	se := store.Session{ID: "s", UserID: "u", RefreshHash: "h1", CreatedAt: now, RefreshExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(3 * time.Hour)}
	for _, err := range []error{
		s.CreateSession(ctx, se),
		s.RevokeSession(ctx, "r", now.Add(2*time.Hour)),
		s.PutOneTime(ctx, "verify", "t", "u", now.Add(30*time.Minute)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RotateRefresh(ctx, "s", store.Rotation{PresentedHash: "h1", NextHash: "h2", RefreshExpiresAt: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want time.Time
	}{
		{s.sessionKey("s"), now.Add(2 * time.Hour)},
		{s.spentKey("s"), now.Add(2 * time.Hour)},
		{s.nextKey("s"), now.Add(2 * time.Hour)},
		{s.userSessionsKey("u"), now.Add(3 * time.Hour)},
		{s.revokedKey(), now.Add(2 * time.Hour)},
		{s.oneTimeKey("verify", "t"), now.Add(30 * time.Minute)},
		{s.oneTimeUserKey("verify", "u"), now.Add(30 * time.Minute)},
	} {
		ttl, err := s.client.PTTL(ctx, tc.key).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", tc.key, err)
		}
		// The TTL was set from the wanted expiry a moment ago: it is at
		// most the time left and far more than the time the test took.
		if left := time.Until(tc.want); ttl <= 0 || ttl > left+time.Second || ttl < left-time.Minute {
			t.Errorf("TTL of %s = %v, want about %v", tc.key, ttl, left)
		}
	}
}

func TestAServerErrorReplyIsNotReportedAsUnavailable(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// A session key holding a string makes HGETALL fail with WRONGTYPE.
	if err := s.client.Set(ctx, s.sessionKey("s"), "not a hash", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetSession(ctx, "s")
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession of a corrupt key = %v, want a plain error", err)
	}
}

func BenchmarkRotateRefresh(b *testing.B) {
	s := newStore(b)
	storetest.BenchRotateRefresh(b, s)
}
