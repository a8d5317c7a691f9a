package memstore

import (
	"context"
	"testing"
	"time"

	"authgate/store"
	"authgate/store/localfeed"
	"authgate/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return New() })
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s := New()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	storetest.RunUnavailable(t, s, true)
}

func TestSlowWatcherIsToldToResyncInsteadOfBlockingRevokers(t *testing.T) {
	s := New()
	defer s.Close()
	release := make(chan struct{})
	reconnects := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.WatchRevocations(ctx, func(string, time.Time) { <-release }, func() { reconnects <- struct{}{} })
	<-reconnects
	// The watcher blocks in its first callback; twice the queue must not block.
	for i := range 2*localfeed.QueueSize + 1 {
		if err := s.RevokeSession(context.Background(), string(rune(i)), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
	}
	close(release)
	select {
	case <-reconnects:
	case <-time.After(10 * time.Second):
		t.Fatal("reconnect not called after revocations were dropped")
	}
}

func TestSweepDropsExpiredRecords(t *testing.T) {
	clock := time.Now()
	s := New(WithNow(func() time.Time { return clock }))
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateSession(ctx, store.Session{ID: "s", UserID: "u", RefreshHash: "h", RefreshExpiresAt: clock.Add(time.Minute), ExpiresAt: clock.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, "r", clock.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOneTime(ctx, "p", "h", "u", clock.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * sweepEvery)
	if err := s.PutOneTime(ctx, "p", "h2", "other", clock.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) != 0 || len(s.userSessions) != 0 || len(s.revoked) != 0 || len(s.oneTime) != 1 || len(s.oneTimeByUser) != 1 {
		t.Fatalf("after sweep: %d sessions, %d user indexes, %d revocations, %d tokens, %d token owners; want 0, 0, 0, 1, 1",
			len(s.sessions), len(s.userSessions), len(s.revoked), len(s.oneTime), len(s.oneTimeByUser))
	}
}
