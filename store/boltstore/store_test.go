package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"authgate/store"
	"authgate/store/storetest"
)

// open opens a store in a fresh directory of t.
func open(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nested", "dir", "authgate.db")
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := open(t)
		return s
	})
}

func TestDataSurvivesCloseAndReopen(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	now := time.Now()
	u := store.User{ID: "u1", Username: "Alice", Email: "alice@example.com", Roles: []string{"admin"}, Active: true, CreatedAt: now}
	se := store.Session{ID: "s1", UserID: "u1", RefreshHash: "h1", CreatedAt: now, RefreshExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}
	until := now.Add(time.Hour)
	for _, err := range []error{
		s.CreateUser(ctx, u),
		s.CreateSession(ctx, se),
		s.RevokeSession(ctx, "s0", until),
		s.PutOneTime(ctx, "verify", "t1", "u1", now.Add(time.Hour)),
		func() error { _, err := s.SharedSecret(ctx, "k", []byte("first")); return err }(),
	} {
		if err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if _, err := s.RotateRefresh(ctx, "s1", store.Rotation{PresentedHash: "h1", NextHash: "h2", RefreshExpiresAt: now.Add(90 * time.Minute)}); err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name  string
		check func() error
	}{
		{"user by username", func() error {
			got, err := s.GetUserByUsername(ctx, "ALICE")
			if err == nil && (got.ID != "u1" || got.Roles[0] != "admin" || !got.CreatedAt.Equal(now)) {
				err = fmt.Errorf("got %+v", got)
			}
			return err
		}},
		{"user by email", func() error { _, err := s.GetUserByEmail(ctx, "alice@example.com"); return err }},
		{"rotated session", func() error {
			got, err := s.GetSession(ctx, "s1")
			if err == nil && (got.RefreshHash != "h2" || !got.RefreshExpiresAt.Equal(now.Add(90*time.Minute))) {
				err = fmt.Errorf("got %+v", got)
			}
			return err
		}},
		{"shared secret", func() error {
			got, err := s.SharedSecret(ctx, "k", []byte("other"))
			if err == nil && string(got) != "first" {
				err = fmt.Errorf("got %q, want the secret stored before the restart", got)
			}
			return err
		}},
		{"spent hash replayed within the grace", func() error {
			got, err := s.RotateRefresh(ctx, "s1", store.Rotation{PresentedHash: "h1", NextHash: "h2", RefreshExpiresAt: now.Add(time.Hour), Grace: time.Hour})
			if err == nil && got.RefreshHash != "h2" {
				err = fmt.Errorf("got %+v", got)
			}
			return err
		}},
		{"spent hash still detected", func() error {
			_, err := s.RotateRefresh(ctx, "s1", store.Rotation{PresentedHash: "h1", NextHash: "h3", RefreshExpiresAt: now.Add(time.Hour), Grace: time.Hour})
			if !errors.Is(err, store.ErrRefreshReused) {
				return fmt.Errorf("RotateRefresh with spent hash = %v, want ErrRefreshReused", err)
			}
			return nil
		}},
		{"revocation", func() error {
			got, err := s.RevokedSessions(ctx)
			if err == nil && !got["s0"].Equal(until) {
				err = fmt.Errorf("got %v", got)
			}
			return err
		}},
		{"one-time token", func() error {
			got, err := s.ConsumeOneTime(ctx, "verify", "t1")
			if err == nil && got != "u1" {
				err = fmt.Errorf("got %q", got)
			}
			return err
		}},
	} {
		if err := tc.check(); err != nil {
			t.Errorf("%s after reopen: %v", tc.name, err)
		}
	}
}

func TestSecondOpenOfALockedFileFailsWithAClearError(t *testing.T) {
	s, path := open(t)
	defer s.Close()
	second, err := Open(path, WithLockTimeout(100*time.Millisecond))
	if err == nil {
		second.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), "in use by another authgate") {
		t.Fatalf("second Open = %v, want it to say the data dir is in use", err)
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s, _ := open(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	storetest.RunUnavailable(t, s, true)
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// counts returns the number of keys in every bucket.
func counts(t *testing.T, s *Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			out[string(name)] = tx.Bucket(name).Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatalf("count keys: %v", err)
	}
	return out
}

func TestSweeperDeletesExpiredRecordsAndTheirIndexEntries(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s, _ := open(t, WithNow(clock.Now), WithSweepInterval(10*time.Millisecond))
	defer s.Close()
	ctx := context.Background()
	start := clock.Now()
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		id := fmt.Sprint(i)
		se := store.Session{ID: "s" + id, UserID: "u", RefreshHash: "h0", RefreshExpiresAt: start.Add(exp), ExpiresAt: start.Add(exp)}
		for _, err := range []error{
			s.CreateSession(ctx, se),
			s.RevokeSession(ctx, "r"+id, start.Add(exp)),
			s.PutOneTime(ctx, "verify", "t"+id, "u"+id, start.Add(exp)),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RotateRefresh(ctx, se.ID, store.Rotation{PresentedHash: "h0", NextHash: "h1", RefreshExpiresAt: start.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(2 * time.Minute)
	want := map[string]int{
		"sessions": 1, "spent_hashes": 1, "user_sessions": 1, "revocations": 1,
		"one_time": 1, "one_time_by_user": 1, "expiries": 3,
		"users": 0, "users_by_name": 0, "users_by_email": 0, "secrets": 0,
		"identities": 0, "user_identities": 0, "second_factors": 0,
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := counts(t, s)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("keys per bucket after sweeping = %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExpiredRecordsAreInvisibleBeforeTheSweep(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s, _ := open(t, WithNow(clock.Now), WithSweepInterval(0))
	defer s.Close()
	ctx := context.Background()
	exp := clock.Now().Add(time.Minute)
	for _, err := range []error{
		s.CreateSession(ctx, store.Session{ID: "s", UserID: "u", RefreshHash: "h", RefreshExpiresAt: exp, ExpiresAt: exp}),
		s.RevokeSession(ctx, "r", exp),
		s.PutOneTime(ctx, "verify", "t", "u", exp),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(time.Minute)
	if _, err := s.GetSession(ctx, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession = %v, want ErrNotFound", err)
	}
	if got, err := s.UserSessions(ctx, "u"); err != nil || len(got) != 0 {
		t.Errorf("UserSessions = %v, %v; want none", got, err)
	}
	if got, err := s.RevokedSessions(ctx); err != nil || len(got) != 0 {
		t.Errorf("RevokedSessions = %v, %v; want none", got, err)
	}
	if _, err := s.ConsumeOneTime(ctx, "verify", "t"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ConsumeOneTime = %v, want ErrNotFound", err)
	}
}

func BenchmarkRotateRefresh(b *testing.B) {
	s, _ := open(b)
	defer s.Close()
	storetest.BenchRotateRefresh(b, s)
}
