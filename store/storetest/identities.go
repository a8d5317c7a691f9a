package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"authgate/store"
)

// link links (provider, subject) to userID or fails the test.
func link(t *testing.T, s store.Store, userID, provider, subject string) {
	t.Helper()
	id := store.Identity{Provider: provider, Subject: subject, UserID: userID,
		Email: subject + "@idp.example", LinkedAt: now()}
	if err := s.LinkIdentity(testContext(t), id); err != nil {
		t.Fatalf("LinkIdentity(%q, %q → %q): %v", provider, subject, userID, err)
	}
}

// wantLinked fails unless (provider, subject) is linked to userID ("" for
// no link).
func wantLinked(t *testing.T, s store.Store, provider, subject, userID string) {
	t.Helper()
	got, err := s.IdentityUser(testContext(t), provider, subject)
	if userID == "" {
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("IdentityUser(%q, %q) = %q, %v; want ErrNotFound", provider, subject, got, err)
		}
		return
	}
	if err != nil || got != userID {
		t.Fatalf("IdentityUser(%q, %q) = %q, %v; want %q", provider, subject, got, err, userID)
	}
}

// wantIdentities fails unless the user's links are exactly these
// provider/subject pairs, in this order.
func wantIdentities(t *testing.T, s store.Store, userID string, pairs ...[2]string) {
	t.Helper()
	got, err := s.UserIdentities(testContext(t), userID)
	if err != nil {
		t.Fatalf("UserIdentities(%q): %v", userID, err)
	}
	if len(got) != len(pairs) {
		t.Fatalf("UserIdentities(%q) = %v, want %v", userID, got, pairs)
	}
	for i, p := range pairs {
		g := got[i]
		if g.Provider != p[0] || g.Subject != p[1] || g.UserID != userID || g.Email != p[1]+"@idp.example" || g.LinkedAt.IsZero() {
			t.Fatalf("UserIdentities(%q)[%d] = %+v, want %s/%s", userID, i, g, p[0], p[1])
		}
	}
}

var identityBehaviours = []behaviour{
	{"LinkedIdentityFindsItsUser", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "alice", "alice@example.com")
		create(t, s, u)
		link(t, s, u.ID, "hydra", "sub-1")
		wantLinked(t, s, "hydra", "sub-1", u.ID)
		wantLinked(t, s, "hydra", "sub-2", "")
		wantLinked(t, s, "github", "sub-1", "")
	}},
	{"LinkingAgainToTheSameUserIsNoError", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "alice", "alice@example.com")
		create(t, s, u)
		link(t, s, u.ID, "hydra", "sub-1")
		link(t, s, u.ID, "hydra", "sub-1")
		wantIdentities(t, s, u.ID, [2]string{"hydra", "sub-1"})
	}},
	{"AnIdentityLinkedToAnotherUserIsTaken", func(t *testing.T, h *harness) {
		s := h.open(t)
		a, b := newUser(t, "a", ""), newUser(t, "b", "")
		create(t, s, a)
		create(t, s, b)
		link(t, s, a.ID, "hydra", "sub-1")
		err := s.LinkIdentity(testContext(t), store.Identity{Provider: "hydra", Subject: "sub-1", UserID: b.ID, LinkedAt: now()})
		if !errors.Is(err, store.ErrIdentityTaken) {
			t.Fatalf("LinkIdentity to a second user: %v, want ErrIdentityTaken", err)
		}
		wantLinked(t, s, "hydra", "sub-1", a.ID)
		wantIdentities(t, s, b.ID)
	}},
	{"LinkingToAMissingUserIsNotFound", func(t *testing.T, h *harness) {
		s := h.open(t)
		err := s.LinkIdentity(testContext(t), store.Identity{Provider: "hydra", Subject: "sub-1", UserID: newID(t), LinkedAt: now()})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("LinkIdentity to a missing user: %v, want ErrNotFound", err)
		}
		wantLinked(t, s, "hydra", "sub-1", "")
	}},
	{"AUserListsAllItsLinksInOrder", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "alice", "")
		create(t, s, u)
		link(t, s, u.ID, "hydra", "z")
		link(t, s, u.ID, "github", "42")
		link(t, s, u.ID, "hydra", "a")
		wantIdentities(t, s, u.ID, [2]string{"github", "42"}, [2]string{"hydra", "a"}, [2]string{"hydra", "z"})
		wantIdentities(t, s, newID(t))
	}},
	{"SubjectsAreExactAndSeparatorSafe", func(t *testing.T, h *harness) {
		// Provider names and subjects are joined into keys: a subject that
		// contains the separator or differs only in case is another account.
		s := h.open(t)
		a, b := newUser(t, "a", ""), newUser(t, "b", "")
		create(t, s, a)
		create(t, s, b)
		link(t, s, a.ID, "hy", "dra:x")
		link(t, s, b.ID, "hydra", "X")
		wantLinked(t, s, "hydra", "x", "")
		wantLinked(t, s, "hy", "dra:x", a.ID)
		wantLinked(t, s, "hydra", "X", b.ID)
	}},
	{"UnlinkRemovesOnlyTheOwnersLink", func(t *testing.T, h *harness) {
		s := h.open(t)
		a, b := newUser(t, "a", ""), newUser(t, "b", "")
		create(t, s, a)
		create(t, s, b)
		link(t, s, a.ID, "hydra", "sub-1")
		link(t, s, a.ID, "github", "7")
		ctx := testContext(t)
		if err := s.UnlinkIdentity(ctx, b.ID, "hydra", "sub-1"); err != nil {
			t.Fatalf("UnlinkIdentity by another user: %v", err)
		}
		wantLinked(t, s, "hydra", "sub-1", a.ID)
		if err := s.UnlinkIdentity(ctx, a.ID, "hydra", "sub-1"); err != nil {
			t.Fatalf("UnlinkIdentity: %v", err)
		}
		if err := s.UnlinkIdentity(ctx, a.ID, "hydra", "sub-1"); err != nil {
			t.Fatalf("UnlinkIdentity of a missing link: %v", err)
		}
		wantLinked(t, s, "hydra", "sub-1", "")
		wantIdentities(t, s, a.ID, [2]string{"github", "7"})
		link(t, s, b.ID, "hydra", "sub-1") // free again
	}},
	{"DeletingAUserDeletesItsLinks", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "alice", "alice@example.com")
		create(t, s, u)
		link(t, s, u.ID, "hydra", "sub-1")
		link(t, s, u.ID, "github", "7")
		if err := s.DeleteUser(testContext(t), u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		wantLinked(t, s, "hydra", "sub-1", "")
		wantLinked(t, s, "github", "7", "")
		wantIdentities(t, s, u.ID)
		// The provider account can sign up again as a new user.
		v := newUser(t, "alice2", "")
		create(t, s, v)
		link(t, s, v.ID, "hydra", "sub-1")
		wantLinked(t, s, "hydra", "sub-1", v.ID)
	}},
	{"ConcurrentLinksOfOneIdentityHaveOneWinner", func(t *testing.T, h *harness) {
		s := h.open(t)
		users := make([]store.User, 8)
		for i := range users {
			users[i] = newUser(t, "u"+newID(t)[:8], "")
			create(t, s, users[i])
		}
		errs := make([]error, len(users))
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() {
				errs[i] = s.LinkIdentity(testContext(t), store.Identity{Provider: "hydra", Subject: "s", UserID: u.ID, LinkedAt: time.Now()})
			})
		}
		wg.Wait()
		oneWinner(t, "LinkIdentity", errs, store.ErrIdentityTaken)
	}},
}
