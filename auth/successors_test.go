package auth

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"authgate/config"
	"authgate/store"
	"authgate/store/memstore"
)

func TestSuccessorsAreDerivedWellFormedAndKeyed(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	tok, secret, err := NewOpaqueToken("sid")
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := NewOpaqueToken("sid")
	next, nextSecret := successor(k1, "sid", secret)
	if again, _ := successor(k1, "sid", secret); again != next {
		t.Fatal("the successor of one token is not deterministic")
	}
	if sid, s, ok := SplitRefresh(next); !ok || sid != "sid" || s != nextSecret {
		t.Fatalf("successor %q is no refresh token of session sid", next)
	}
	for name, n := range map[string]string{
		"another token": first(successor(k1, "sid", other)),
		"another key":   first(successor(k2, "sid", secret)),
	} {
		if n == next {
			t.Fatalf("%s gives the same successor", name)
		}
	}
	if next == tok {
		t.Fatal("a token is its own successor")
	}
}

func first(a, _ string) string { return a }

// newTestSessions returns session logic on st whose users are all active.
func newTestSessions(t *testing.T, st *memstore.Store, grace time.Duration) *Sessions {
	t.Helper()
	cfg := config.Tokens{Issuer: "i", Audience: []string{"a"}, AccessTTL: time.Minute, RefreshTTL: time.Hour,
		SessionLifetime: 2 * time.Hour, RefreshReuseGrace: &grace}
	return NewSessions(st, newTestTokens(t, cfg), NewRevocations(), cfg)
}

func TestInstancesOnOneStoreHandOutTheSameSuccessor(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	u := store.User{ID: "u", Username: "alice", Active: true}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	a, b := newTestSessions(t, st, time.Minute), newTestSessions(t, st, time.Minute)
	p, err := a.Start(ctx, u, Authn{AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
	pa, _, err := a.Refresh(ctx, p.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	pb, _, err := b.Refresh(ctx, p.RefreshToken)
	if err != nil {
		t.Fatalf("replay on another instance: %v", err)
	}
	if pa.RefreshToken != pb.RefreshToken {
		t.Fatal("two instances on one store derived different successors")
	}
}

// TestAReplayFollowsABoundedChain: a replay follows the chain of rotations
// made since to the live token, but at most maxReplaySteps links; a longer
// chain answers invalid without revoking the session.
func TestAReplayFollowsABoundedChain(t *testing.T) {
	for _, tc := range []struct {
		rotations int
		wantLive  bool
	}{{1, true}, {maxReplaySteps - 1, true}, {maxReplaySteps + 1, false}} {
		st := memstore.New()
		ctx := context.Background()
		u := store.User{ID: "u", Username: "alice", Active: true}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		s := newTestSessions(t, st, time.Minute)
		p, err := s.Start(ctx, u, Authn{AMR: []string{"pwd"}})
		if err != nil {
			t.Fatal(err)
		}
		live := p.RefreshToken
		for range tc.rotations {
			next, _, err := s.Refresh(ctx, live)
			if err != nil {
				t.Fatal(err)
			}
			live = next.RefreshToken
		}
		got, _, err := s.Refresh(ctx, p.RefreshToken)
		switch {
		case tc.wantLive && (err != nil || got.RefreshToken != live):
			t.Fatalf("%d rotations: replay of the first token = %v; want the live token", tc.rotations, err)
		case !tc.wantLive && !errors.Is(err, ErrRefreshInvalid):
			t.Fatalf("%d rotations: replay of the first token = %v; want ErrRefreshInvalid", tc.rotations, err)
		}
		if _, _, err := s.Refresh(ctx, live); err != nil {
			t.Fatalf("%d rotations: the live token after the replay: %v; want the session alive", tc.rotations, err)
		}
	}
}
