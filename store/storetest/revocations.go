package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"authgate/store"
)

// revoke records a revocation or fails the test.
func revoke(t *testing.T, s store.Store, sid string, until time.Time) {
	t.Helper()
	if err := s.RevokeSession(testContext(t), sid, until); err != nil {
		t.Fatalf("RevokeSession(%q): %v", sid, err)
	}
}

// revoked returns RevokedSessions or fails the test.
func revoked(t *testing.T, s store.Store) map[string]time.Time {
	t.Helper()
	got, err := s.RevokedSessions(testContext(t))
	if err != nil {
		t.Fatalf("RevokedSessions: %v", err)
	}
	return got
}

// revocation is one call of a WatchRevocations callback.
type revocation struct {
	sid   string
	until time.Time
}

// watcher runs WatchRevocations in the background and records what it
// reports.
type watcher struct {
	events     chan revocation
	reconnects chan struct{}
	cancel     context.CancelFunc
	done       chan error
}

// watch starts WatchRevocations on s; it is stopped when t ends.
func watch(t *testing.T, s store.Store) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{
		events:     make(chan revocation, 100),
		reconnects: make(chan struct{}, 100),
		cancel:     cancel,
		done:       make(chan error, 1),
	}
	go func() {
		w.done <- s.WatchRevocations(ctx,
			func(sid string, until time.Time) { w.events <- revocation{sid, until} },
			func() { w.reconnects <- struct{}{} })
	}()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// stop ends the watch and waits for WatchRevocations to return.
func (w *watcher) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case <-w.done:
		w.done <- nil // later stops return at once
	case <-time.After(10 * time.Second):
		t.Errorf("WatchRevocations did not return after its context ended")
	}
}

// waitReconnect waits for a call of reconnect.
func (w *watcher) waitReconnect(t *testing.T) {
	t.Helper()
	select {
	case <-w.reconnects:
	case <-time.After(10 * time.Second):
		t.Fatalf("reconnect was not called")
	}
}

// next waits for the next revocation reported.
func (w *watcher) next(t *testing.T) revocation {
	t.Helper()
	select {
	case r := <-w.events:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no revocation reported")
	}
	return revocation{}
}

var revocationBehaviours = []behaviour{
	{"RevokedSessionIsListedWithItsUntil", func(t *testing.T, h *harness) {
		s := h.open(t)
		until := now().Add(time.Hour)
		revoke(t, s, "s1", until)
		revoke(t, s, "s2", until.Add(time.Minute))
		got := revoked(t, s)
		if len(got) != 2 || !got["s1"].Equal(until) || !got["s2"].Equal(until.Add(time.Minute)) {
			t.Fatalf("RevokedSessions = %v, want s1 until %v and s2 a minute later", got, until)
		}
	}},
	{"RevocationWithUntilInThePastIsNotListed", func(t *testing.T, h *harness) {
		s := h.open(t)
		revoke(t, s, "old", now().Add(-time.Second))
		revoke(t, s, "live", now().Add(time.Hour))
		got := revoked(t, s)
		if _, ok := got["old"]; ok || len(got) != 1 {
			t.Fatalf("RevokedSessions = %v, want only live", got)
		}
	}},
	{"RevocationDisappearsAfterItsUntil", func(t *testing.T, h *harness) {
		s := h.open(t)
		until := now().Add(time.Second)
		revoke(t, s, "short", until)
		revoke(t, s, "long", now().Add(time.Hour))
		if got := revoked(t, s); !got["short"].Equal(until) && time.Now().Before(until) {
			t.Fatalf("RevokedSessions before until = %v, want short listed", got)
		}
		sleepPast(until)
		got := revoked(t, s)
		if _, ok := got["short"]; ok || len(got) != 1 {
			t.Fatalf("RevokedSessions after until = %v, want only long", got)
		}
	}},
	{"RevokingAgainNeverShortensTheRevocation", func(t *testing.T, h *harness) {
		s := h.open(t)
		later := now().Add(2 * time.Hour)
		revoke(t, s, "s", later)
		revoke(t, s, "s", now().Add(time.Hour))
		if got := revoked(t, s); !got["s"].Equal(later) {
			t.Fatalf("RevokedSessions = %v, want s until %v", got, later)
		}
		evenLater := later.Add(time.Hour)
		revoke(t, s, "s", evenLater)
		if got := revoked(t, s); !got["s"].Equal(evenLater) {
			t.Fatalf("RevokedSessions = %v, want s until %v", got, evenLater)
		}
	}},
	{"WatchCallsReconnectAtStartThenDeliversRevocationsOfEveryInstance", func(t *testing.T, h *harness) {
		s := h.open(t)
		other := h.sibling(t, s)
		w := watch(t, s)
		w.waitReconnect(t)
		until := now().Add(time.Hour)
		revoke(t, other, "from-other", until)
		if got := w.next(t); got.sid != "from-other" || !got.until.Equal(until) {
			t.Fatalf("watch reported %q until %v, want from-other until %v", got.sid, got.until, until)
		}
		revoke(t, s, "from-self", until)
		if got := w.next(t); got.sid != "from-self" || !got.until.Equal(until) {
			t.Fatalf("watch reported %q until %v, want from-self until %v", got.sid, got.until, until)
		}
	}},
	{"EveryWatcherGetsEveryRevocation", func(t *testing.T, h *harness) {
		s := h.open(t)
		ws := []*watcher{watch(t, s), watch(t, s), watch(t, h.sibling(t, s))}
		for _, w := range ws {
			w.waitReconnect(t)
		}
		const n = 5
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { revoke(t, s, string(rune('a'+i)), now().Add(time.Hour)) })
		}
		wg.Wait()
		for i, w := range ws {
			seen := map[string]bool{}
			for range n {
				seen[w.next(t).sid] = true
			}
			if len(seen) != n {
				t.Fatalf("watcher %d saw %v, want %d distinct revocations", i, seen, n)
			}
		}
	}},
	{"WatchReturnsWhenItsContextEnds", func(t *testing.T, h *harness) {
		s := h.open(t)
		w := watch(t, s)
		w.waitReconnect(t)
		w.stop(t)
		// The store still works for others after a watcher left.
		revoke(t, s, "after", now().Add(time.Hour))
		if got := revoked(t, s); len(got) != 1 {
			t.Fatalf("RevokedSessions = %v, want one", got)
		}
	}},
	{"CloseEndsRunningWatchesWithErrUnavailable", func(t *testing.T, h *harness) {
		s := h.newStore(t) // closed here, not by the harness
		started := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- s.WatchRevocations(context.Background(), func(string, time.Time) {},
				func() { started <- struct{}{} })
		}()
		<-started
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("WatchRevocations after Close = %v, want ErrUnavailable", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WatchRevocations still running after Close")
		}
	}},
}
