package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"authgate/store"
)

// graceful is a RotateRefresh request with a replay window.
func graceful(presented, next string, refreshExpiresAt time.Time, grace time.Duration) store.Rotation {
	return store.Rotation{PresentedHash: presented, NextHash: next, RefreshExpiresAt: refreshExpiresAt, Grace: grace}
}

// rotate makes the rotation or fails the test.
func rotate(t *testing.T, s store.Store, sid string, r store.Rotation) store.Session {
	t.Helper()
	got, err := s.RotateRefresh(testContext(t), sid, r)
	if err != nil {
		t.Fatalf("RotateRefresh(%s→%s): %v", r.PresentedHash, r.NextHash, err)
	}
	return got
}

// wantReuse fails unless the rotation reports reuse and the session is gone.
func wantReuse(t *testing.T, s store.Store, sid string, r store.Rotation) {
	t.Helper()
	if _, err := s.RotateRefresh(testContext(t), sid, r); !errors.Is(err, store.ErrRefreshReused) {
		t.Fatalf("RotateRefresh(%s→%s, grace %v) = %v, want ErrRefreshReused", r.PresentedHash, r.NextHash, r.Grace, err)
	}
	wantNoSession(t, s, sid)
}

// The replay rule: a retried or repeated rotation of the token that was
// live a moment ago returns the session with the same successor instead of
// revoking it; see store.Sessions.RotateRefresh.
var replayBehaviours = []behaviour{
	{"PresentingTheJustSpentHashAgainWithinTheGraceReplaysAndChangesNothing", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h0", time.Hour)
		createSession(t, s, se)
		first := rotate(t, s, se.ID, graceful("h0", "h1", time.Now().Add(2*time.Hour), time.Minute))
		for i := range 3 {
			got := rotate(t, s, se.ID, graceful("h0", "h1", time.Now().Add(3*time.Hour), time.Minute))
			if d := diffSession(got, first); d != "" {
				t.Fatalf("replay %d returned %s; want the session as the rotation left it", i, d)
			}
		}
		wantSession(t, s, first)
		wantUserSessions(t, s, "u", se.ID)
		if got := rotate(t, s, se.ID, graceful("h1", "h2", time.Now().Add(time.Hour), time.Minute)); got.RefreshHash != "h2" {
			t.Fatalf("rotating the successor made %q live, want h2", got.RefreshHash)
		}
	}},
	{"AReplayAfterTheSuccessorWasSpentReturnsTheLiveHashOfTheChain", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h0", time.Hour)
		createSession(t, s, se)
		rotate(t, s, se.ID, graceful("h0", "h1", time.Now().Add(time.Hour), time.Minute))
		last := rotate(t, s, se.ID, graceful("h1", "h2", time.Now().Add(time.Hour), time.Minute))
		for _, r := range []store.Rotation{
			graceful("h0", "h1", time.Now().Add(2*time.Hour), time.Minute),
			graceful("h1", "h2", time.Now().Add(2*time.Hour), time.Minute),
		} {
			if got := rotate(t, s, se.ID, r); diffSession(got, last) != "" {
				t.Fatalf("replay %s→%s returned %s", r.PresentedHash, r.NextHash, diffSession(got, last))
			}
		}
		wantSession(t, s, last)
	}},
	{"ASpentHashPresentedAfterTheGraceIsReuse", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h0", time.Hour)
		other := newSession(t, "u", "x0", time.Hour)
		createSession(t, s, se)
		createSession(t, s, other)
		rotate(t, s, se.ID, graceful("h0", "h1", time.Now().Add(time.Hour), time.Second))
		// Taken after the rotation: the store stamps the spend somewhere
		// before this, so a second from here is past its grace.
		spentAt := time.Now()
		sleepPast(spentAt.Add(time.Second))
		wantReuse(t, s, se.ID, graceful("h0", "h1", time.Now().Add(time.Hour), time.Second))
		wantUserSessions(t, s, "u", other.ID)
		wantSession(t, s, other)
	}},
	{"ASpentHashIsReuseWhenTheSuccessorDiffersOrThereIsNoGrace", func(t *testing.T, h *harness) {
		for _, tc := range []struct {
			name  string
			again store.Rotation
		}{
			{"another successor within the grace", graceful("h0", "h9", time.Now().Add(time.Hour), time.Hour)},
			{"same successor, grace 0", graceful("h0", "h1", time.Now().Add(time.Hour), 0)},
			{"same successor, negative grace", graceful("h0", "h1", time.Now().Add(time.Hour), -time.Hour)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := h.open(t)
				se := newSession(t, "u", "h0", time.Hour)
				createSession(t, s, se)
				rotate(t, s, se.ID, graceful("h0", "h1", time.Now().Add(time.Hour), time.Hour))
				wantReuse(t, s, se.ID, tc.again)
				wantUserSessions(t, s, "u")
			})
		}
	}},
	{"ReplayingAnUnknownHashOrSessionIsNotFound", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h0", time.Hour)
		createSession(t, s, se)
		rotated := rotate(t, s, se.ID, graceful("h0", "h1", time.Now().Add(time.Hour), time.Hour))
		for _, tc := range []struct{ name, sid, presented, next string }{
			{"never issued", se.ID, "hx", "h1"},
			{"the successor's successor before it exists", se.ID, "h2", "h3"},
			{"unknown session", "missing", "h0", "h1"},
		} {
			if _, err := s.RotateRefresh(testContext(t), tc.sid, graceful(tc.presented, tc.next, time.Now().Add(time.Hour), time.Hour)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: RotateRefresh = %v, want ErrNotFound", tc.name, err)
			}
		}
		wantSession(t, s, rotated)
	}},
	{"ConcurrentRotationsOfOneLiveHashToOneSuccessorAllSucceed", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "live", time.Hour)
		createSession(t, s, se)
		const n = 20
		got := make([]store.Session, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		exp := time.Now().Add(2 * time.Hour)
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.RotateRefresh(testContext(t), se.ID, graceful("live", "next", exp, time.Minute))
			})
		}
		close(start)
		wg.Wait()
		want := se
		want.RefreshHash, want.RefreshExpiresAt = "next", exp
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("call %d of %d: %v; want every concurrent rotation to the same successor to succeed", i, n, errs[i])
			}
			if d := diffSession(got[i], want); d != "" {
				t.Fatalf("call %d returned %s", i, d)
			}
		}
		wantSession(t, s, want)
	}},
}

var secretBehaviours = []behaviour{
	{"TheFirstStoredSecretWinsForEveryCallerAndInstance", func(t *testing.T, h *harness) {
		s := h.open(t)
		other := h.sibling(t, s)
		ctx := testContext(t)
		got, err := s.SharedSecret(ctx, "a", []byte("first"))
		if err != nil || string(got) != "first" {
			t.Fatalf("SharedSecret(a, first) = %q, %v; want first stored", got, err)
		}
		for _, st := range []store.Store{s, other} {
			if got, err := st.SharedSecret(ctx, "a", []byte("second")); err != nil || string(got) != "first" {
				t.Fatalf("SharedSecret(a, second) = %q, %v; want first", got, err)
			}
		}
		if got, err := other.SharedSecret(ctx, "b", []byte("\x00\xffbinary")); err != nil || string(got) != "\x00\xffbinary" {
			t.Fatalf("SharedSecret(b) = %q, %v; want its own binary candidate", got, err)
		}
	}},
	{"ConcurrentFirstCallsAgreeOnOneSecret", func(t *testing.T, h *harness) {
		s := h.open(t)
		const n = 10
		got := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], errs[i] = s.SharedSecret(testContext(t), "k", []byte{byte('a' + i)}) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || string(got[i]) != string(got[0]) {
				t.Fatalf("call %d = %q, %v; call 0 = %q: want every call to get the same secret", i, got[i], errs[i], got[0])
			}
		}
	}},
}
