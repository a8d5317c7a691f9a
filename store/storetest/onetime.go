package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"authgate/store"
)

// put stores a one-time token or fails the test.
func put(t *testing.T, s store.Store, purpose, hash, userID string, expiresAt time.Time) {
	t.Helper()
	if err := s.PutOneTime(testContext(t), purpose, hash, userID, expiresAt); err != nil {
		t.Fatalf("PutOneTime(%q, %q): %v", purpose, hash, err)
	}
}

// wantConsume fails unless consuming the token returns userID.
func wantConsume(t *testing.T, s store.Store, purpose, hash, userID string) {
	t.Helper()
	got, err := s.ConsumeOneTime(testContext(t), purpose, hash)
	if err != nil || got != userID {
		t.Fatalf("ConsumeOneTime(%q, %q) = %q, %v; want %q", purpose, hash, got, err, userID)
	}
}

// wantNoToken fails unless consuming the token reports ErrNotFound.
func wantNoToken(t *testing.T, s store.Store, purpose, hash string) {
	t.Helper()
	got, err := s.ConsumeOneTime(testContext(t), purpose, hash)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeOneTime(%q, %q) = %q, %v; want ErrNotFound", purpose, hash, got, err)
	}
}

var oneTimeBehaviours = []behaviour{
	{"TokenIsConsumedOnce", func(t *testing.T, h *harness) {
		s := h.open(t)
		put(t, s, "verify", "t1", "u1", time.Now().Add(time.Hour))
		wantConsume(t, s, "verify", "t1", "u1")
		wantNoToken(t, s, "verify", "t1")
	}},
	{"UnknownTokenIsNotFound", func(t *testing.T, h *harness) {
		s := h.open(t)
		put(t, s, "verify", "t1", "u1", time.Now().Add(time.Hour))
		wantNoToken(t, s, "verify", "other")
	}},
	{"NewerTokenOfTheSameUserAndPurposeSupersedesTheOlder", func(t *testing.T, h *harness) {
		s := h.open(t)
		put(t, s, "reset", "old", "u1", time.Now().Add(time.Hour))
		put(t, s, "reset", "new", "u1", time.Now().Add(time.Hour))
		wantNoToken(t, s, "reset", "old")
		wantConsume(t, s, "reset", "new", "u1")
	}},
	{"TokensOfOtherUsersOrPurposesAreNotSuperseded", func(t *testing.T, h *harness) {
		s := h.open(t)
		exp := time.Now().Add(time.Hour)
		put(t, s, "reset", "r1", "u1", exp)
		put(t, s, "verify", "v1", "u1", exp)
		put(t, s, "reset", "r2", "u2", exp)
		wantConsume(t, s, "reset", "r1", "u1")
		wantConsume(t, s, "verify", "v1", "u1")
		wantConsume(t, s, "reset", "r2", "u2")
	}},
	{"PurposesAreSeparate", func(t *testing.T, h *harness) {
		s := h.open(t)
		put(t, s, "verify", "t1", "u1", time.Now().Add(time.Hour))
		wantNoToken(t, s, "reset", "t1")
		wantConsume(t, s, "verify", "t1", "u1")
	}},
	{"TokenPastItsExpiryIsNotFound", func(t *testing.T, h *harness) {
		s := h.open(t)
		put(t, s, "verify", "t1", "u1", time.Now().Add(-time.Second))
		wantNoToken(t, s, "verify", "t1")
	}},
	{"TokenExpiresAtItsExpiry", func(t *testing.T, h *harness) {
		s := h.open(t)
		exp := time.Now().Add(time.Second)
		put(t, s, "verify", "short", "u1", exp)
		put(t, s, "reset", "long", "u1", time.Now().Add(time.Hour))
		sleepPast(exp)
		wantNoToken(t, s, "verify", "short")
		wantConsume(t, s, "reset", "long", "u1")
	}},
	{"ConcurrentConsumesLetExactlyOneWin", func(t *testing.T, h *harness) {
		s := h.open(t)
		put(t, s, "reset", "t1", "u1", time.Now().Add(time.Hour))
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = s.ConsumeOneTime(testContext(t), "reset", "t1") })
		}
		wg.Wait()
		oneWinner(t, "ConsumeOneTime", errs, store.ErrNotFound)
	}},
}
