package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"authgate/store"
)

// newSession returns a session of userID whose refresh token lives for
// refreshTTL and the session for a day.
func newSession(t *testing.T, userID, hash string, refreshTTL time.Duration) store.Session {
	at := time.Now()
	return store.Session{
		ID:               newID(t),
		UserID:           userID,
		RefreshHash:      hash,
		CreatedAt:        at,
		RefreshExpiresAt: at.Add(refreshTTL),
		ExpiresAt:        at.Add(24 * time.Hour),
	}
}

// createSession stores se or fails the test.
func createSession(t *testing.T, s store.Store, se store.Session) {
	t.Helper()
	if err := s.CreateSession(testContext(t), se); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

// diffSession describes how got differs from want ("" when equal).
func diffSession(got, want store.Session) string {
	switch {
	case got.ID != want.ID || got.UserID != want.UserID || got.RefreshHash != want.RefreshHash:
		return fmt.Sprintf("session %q of %q with hash %q, want %q of %q with hash %q",
			got.ID, got.UserID, got.RefreshHash, want.ID, want.UserID, want.RefreshHash)
	case !got.CreatedAt.Equal(want.CreatedAt):
		return fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt)
	case !got.RefreshExpiresAt.Equal(want.RefreshExpiresAt):
		return fmt.Sprintf("RefreshExpiresAt %v, want %v", got.RefreshExpiresAt, want.RefreshExpiresAt)
	case !got.ExpiresAt.Equal(want.ExpiresAt):
		return fmt.Sprintf("ExpiresAt %v, want %v", got.ExpiresAt, want.ExpiresAt)
	case !slices.Equal(got.AMR, want.AMR) || !got.AuthTime.Equal(want.AuthTime) || got.Step != want.Step:
		return fmt.Sprintf("amr %q auth_time %v step %q, want amr %q auth_time %v step %q",
			got.AMR, got.AuthTime, got.Step, want.AMR, want.AuthTime, want.Step)
	}
	return ""
}

// wantSession fails unless GetSession returns want.
func wantSession(t *testing.T, s store.Store, want store.Session) {
	t.Helper()
	got, err := s.GetSession(testContext(t), want.ID)
	if err != nil {
		t.Fatalf("GetSession(%q): %v", want.ID, err)
	}
	if d := diffSession(got, want); d != "" {
		t.Fatalf("GetSession(%q): %s", want.ID, d)
	}
}

// wantNoSession fails unless GetSession reports ErrNotFound.
func wantNoSession(t *testing.T, s store.Store, sid string) {
	t.Helper()
	if _, err := s.GetSession(testContext(t), sid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession(%q) = %v, want ErrNotFound", sid, err)
	}
}

// wantUserSessions fails unless UserSessions lists exactly want.
func wantUserSessions(t *testing.T, s store.Store, userID string, want ...string) {
	t.Helper()
	got, err := s.UserSessions(testContext(t), userID)
	if err != nil {
		t.Fatalf("UserSessions(%q): %v", userID, err)
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("UserSessions(%q) = %q, want %q", userID, sorted(got), sorted(want))
	}
}

var sessionBehaviours = []behaviour{
	{"CreatedSessionIsFoundAndListedUnderItsUser", func(t *testing.T, h *harness) {
		s := h.open(t)
		a1 := newSession(t, "user-a", "hash-a1", time.Hour)
		a2 := newSession(t, "user-a", "hash-a2", time.Hour)
		b1 := newSession(t, "user-b", "hash-b1", time.Hour)
		for _, se := range []store.Session{a1, a2, b1} {
			createSession(t, s, se)
		}
		wantSession(t, s, a1)
		wantSession(t, s, b1)
		wantUserSessions(t, s, "user-a", a1.ID, a2.ID)
		wantUserSessions(t, s, "user-b", b1.ID)
		wantUserSessions(t, s, "user-without-sessions")
	}},
	{"UnknownSessionIsNotFound", func(t *testing.T, h *harness) {
		s := h.open(t)
		createSession(t, s, newSession(t, "u", "h", time.Hour))
		wantNoSession(t, s, "missing")
	}},
	{"DeletedSessionIsGoneFromGetAndFromItsUser", func(t *testing.T, h *harness) {
		s := h.open(t)
		gone := newSession(t, "u", "h1", time.Hour)
		kept := newSession(t, "u", "h2", time.Hour)
		createSession(t, s, gone)
		createSession(t, s, kept)
		if err := s.DeleteSession(testContext(t), gone.ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		wantNoSession(t, s, gone.ID)
		wantSession(t, s, kept)
		wantUserSessions(t, s, "u", kept.ID)
		if _, err := s.RotateRefresh(testContext(t), gone.ID, rotation("h1", "h3", time.Now().Add(time.Hour))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RotateRefresh of a deleted session = %v, want ErrNotFound", err)
		}
	}},
	{"DeletingAMissingSessionIsNoError", func(t *testing.T, h *harness) {
		s := h.open(t)
		if err := s.DeleteSession(testContext(t), "missing"); err != nil {
			t.Fatalf("DeleteSession(missing) = %v, want nil", err)
		}
	}},
	{"SessionWhoseRefreshExpiryIsPastIsGone", func(t *testing.T, h *harness) {
		s := h.open(t)
		old := newSession(t, "u", "h", -time.Second)
		createSession(t, s, old)
		wantNoSession(t, s, old.ID)
		wantUserSessions(t, s, "u")
		if _, err := s.RotateRefresh(testContext(t), old.ID, rotation("h", "h2", time.Now().Add(time.Hour))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RotateRefresh of an expired session = %v, want ErrNotFound", err)
		}
	}},
	{"SessionDisappearsAtItsRefreshExpiry", func(t *testing.T, h *harness) {
		s := h.open(t)
		short := newSession(t, "u", "h1", time.Second)
		long := newSession(t, "u", "h2", time.Hour)
		createSession(t, s, short)
		createSession(t, s, long)
		if _, err := s.GetSession(testContext(t), short.ID); err != nil && time.Now().Before(short.RefreshExpiresAt) {
			t.Fatalf("GetSession before expiry: %v", err)
		}
		sleepPast(short.RefreshExpiresAt)
		wantNoSession(t, s, short.ID)
		wantSession(t, s, long)
		wantUserSessions(t, s, "u", long.ID)
	}},
}

var rotateBehaviours = []behaviour{
	{"SessionKeepsHowItWasAuthenticatedThroughRotations", func(t *testing.T, h *harness) {
		s := h.open(t)
		full := newSession(t, "u", "f1", time.Hour)
		full.AMR, full.AuthTime = []string{"pwd", "otp"}, time.Now().Add(-time.Minute).Truncate(time.Second)
		restricted := newSession(t, "u", "r1", time.Hour)
		restricted.AMR, restricted.AuthTime, restricted.Step = []string{"fed"}, time.Now().Truncate(time.Second), "verify"
		plain := newSession(t, "u", "p1", time.Hour) // as stored before second factors
		for _, se := range []store.Session{full, restricted, plain} {
			createSession(t, s, se)
			wantSession(t, s, se)
			next := time.Now().Add(2 * time.Hour)
			got, err := s.RotateRefresh(testContext(t), se.ID, rotation(se.RefreshHash, se.RefreshHash+"-2", next))
			if err != nil {
				t.Fatalf("RotateRefresh: %v", err)
			}
			want := se
			want.RefreshHash, want.RefreshExpiresAt = se.RefreshHash+"-2", next
			if d := diffSession(got, want); d != "" {
				t.Fatalf("RotateRefresh returned %s", d)
			}
			wantSession(t, s, want)
			// A replay within the grace answers the session as rotated.
			replayed, err := s.RotateRefresh(testContext(t), se.ID, store.Rotation{PresentedHash: se.RefreshHash,
				NextHash: want.RefreshHash, RefreshExpiresAt: next, Grace: time.Minute})
			if err != nil {
				t.Fatalf("replayed RotateRefresh: %v", err)
			}
			if d := diffSession(replayed, want); d != "" {
				t.Fatalf("replayed RotateRefresh returned %s", d)
			}
		}
	}},
	{"RotationMakesTheNewHashLiveAndMovesTheRefreshExpiry", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h1", time.Hour)
		createSession(t, s, se)
		next := time.Now().Add(2 * time.Hour)
		got, err := s.RotateRefresh(testContext(t), se.ID, rotation("h1", "h2", next))
		if err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		want := se
		want.RefreshHash, want.RefreshExpiresAt = "h2", next
		if d := diffSession(got, want); d != "" {
			t.Fatalf("RotateRefresh returned %s", d)
		}
		wantSession(t, s, want)
		if _, err := s.RotateRefresh(testContext(t), se.ID, rotation("h2", "h3", next)); err != nil {
			t.Fatalf("RotateRefresh with the new hash: %v", err)
		}
	}},
	{"RotationNeverMovesTheRefreshExpiryPastTheSessionEnd", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h1", time.Hour)
		createSession(t, s, se)
		got, err := s.RotateRefresh(testContext(t), se.ID, rotation("h1", "h2", se.ExpiresAt.Add(time.Hour)))
		if err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		if !got.RefreshExpiresAt.Equal(se.ExpiresAt) {
			t.Fatalf("RefreshExpiresAt = %v, want it capped at ExpiresAt %v", got.RefreshExpiresAt, se.ExpiresAt)
		}
		stored, err := s.GetSession(testContext(t), se.ID)
		if err != nil || !stored.RefreshExpiresAt.Equal(se.ExpiresAt) {
			t.Fatalf("GetSession = %v, %v; want RefreshExpiresAt %v", stored.RefreshExpiresAt, err, se.ExpiresAt)
		}
	}},
	{"RotationExtendsTheLifeOfTheSession", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h1", time.Second)
		createSession(t, s, se)
		if _, err := s.RotateRefresh(testContext(t), se.ID, rotation("h1", "h2", time.Now().Add(time.Hour))); err != nil {
			if time.Now().Before(se.RefreshExpiresAt) {
				t.Fatalf("RotateRefresh: %v", err)
			}
			t.Skip("the machine was too slow to rotate within a second")
		}
		sleepPast(se.RefreshExpiresAt)
		if _, err := s.GetSession(testContext(t), se.ID); err != nil {
			t.Fatalf("GetSession after the first refresh expiry: %v; want the rotated session", err)
		}
		wantUserSessions(t, s, "u", se.ID)
	}},
	{"PresentingASpentHashDeletesTheSessionAndReportsReuse", func(t *testing.T, h *harness) {
		for _, tc := range []struct {
			name      string
			rotations []string // hashes made live in turn after "h0"
			presented string
		}{
			{"hash spent by the last rotation", []string{"h1"}, "h0"},
			{"hash spent rotations ago", []string{"h1", "h2", "h3"}, "h1"},
			{"first hash after many rotations", []string{"h1", "h2", "h3"}, "h0"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := h.open(t)
				se := newSession(t, "u", "h0", time.Hour)
				other := newSession(t, "u", "x0", time.Hour)
				createSession(t, s, se)
				createSession(t, s, other)
				live := "h0"
				for _, next := range tc.rotations {
					if _, err := s.RotateRefresh(testContext(t), se.ID, rotation(live, next, time.Now().Add(time.Hour))); err != nil {
						t.Fatalf("RotateRefresh(%s→%s): %v", live, next, err)
					}
					live = next
				}
				got, err := s.RotateRefresh(testContext(t), se.ID, rotation(tc.presented, "stolen", time.Now().Add(time.Hour)))
				if !errors.Is(err, store.ErrRefreshReused) {
					t.Fatalf("RotateRefresh with spent %q = %v, want ErrRefreshReused", tc.presented, err)
				}
				if got.ID != se.ID || got.UserID != se.UserID || got.RefreshHash != live {
					t.Fatalf("reuse returned session %q of %q with hash %q; want the session as it was (%q of %q with %q)",
						got.ID, got.UserID, got.RefreshHash, se.ID, se.UserID, live)
				}
				wantNoSession(t, s, se.ID)
				wantUserSessions(t, s, "u", other.ID)
				if _, err := s.RotateRefresh(testContext(t), se.ID, rotation(live, "h9", time.Now().Add(time.Hour))); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("RotateRefresh with the live hash after reuse = %v, want ErrNotFound", err)
				}
				wantSession(t, s, other)
			})
		}
	}},
	{"UnknownHashOrSessionIsNotFoundAndChangesNothing", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "h1", time.Hour)
		other := newSession(t, "u", "o1", time.Hour)
		createSession(t, s, se)
		createSession(t, s, other)
		if _, err := s.RotateRefresh(testContext(t), se.ID, rotation("h1", "h2", se.RefreshExpiresAt)); err != nil {
			t.Fatalf("RotateRefresh: %v", err)
		}
		se.RefreshHash = "h2"
		for _, tc := range []struct{ name, sid, presented string }{
			{"unknown hash", se.ID, "never-issued"},
			{"live hash of another session", se.ID, "o1"},
			{"spent hash of another session", other.ID, "h1"},
			{"unknown session", "missing", "h2"},
		} {
			if _, err := s.RotateRefresh(testContext(t), tc.sid, rotation(tc.presented, "h3", time.Now().Add(time.Hour))); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: RotateRefresh = %v, want ErrNotFound", tc.name, err)
			}
		}
		wantSession(t, s, se)
		wantSession(t, s, other)
	}},
	{"ConcurrentRotationsOfOneLiveHashLetExactlyOneWin", func(t *testing.T, h *harness) {
		s := h.open(t)
		se := newSession(t, "u", "live", time.Hour)
		createSession(t, s, se)
		const n = 20
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = s.RotateRefresh(testContext(t), se.ID, rotation("live", fmt.Sprintf("next-%d", i), time.Now().Add(time.Hour)))
			})
		}
		close(start)
		wg.Wait()
		oneWinner(t, "RotateRefresh", errs, store.ErrRefreshReused, store.ErrNotFound)
	}},
}

// rotation is a RotateRefresh request without a replay window.
func rotation(presented, next string, refreshExpiresAt time.Time) store.Rotation {
	return store.Rotation{PresentedHash: presented, NextHash: next, RefreshExpiresAt: refreshExpiresAt}
}
