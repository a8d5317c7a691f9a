package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
	"authgate/store/redistest"
)

// TestALostReplyGetsTheOutcomeOfTheFirstAttempt: a TCP proxy between the
// store and a private Redis loses the reply of one command, after Redis ran
// it. go-redis sends the command again (EOF is retryable, MaxRetries 3);
// the retry must answer what the first run did, not what a second run on
// the changed data would (reuse, "id in use", not found, a burnt token).
func TestALostReplyGetsTheOutcomeOfTheFirstAttempt(t *testing.T) {
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	ctx := context.Background()
	now := time.Now()
	user := store.User{ID: "u1", Username: "alice", Email: "alice@example.com", Active: true, CreatedAt: now, UpdatedAt: now}
	session := store.Session{ID: "s1", UserID: "u1", RefreshHash: "h0", CreatedAt: now, RefreshExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}
	rot := func(presented, next string) store.Rotation {
		return store.Rotation{PresentedHash: presented, NextHash: next, RefreshExpiresAt: now.Add(time.Hour)}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s *Store)
		lose  []string // what the command whose reply is lost contains
		call  func(s *Store) error
		want  error                        // what call returns; nil: success
		check func(t *testing.T, s *Store) // after the call
	}{
		{
			name:  "rotation without a replay window",
			setup: func(t *testing.T, s *Store) { must(t, s.CreateSession(ctx, session)) },
			lose:  []string{"eval", "{s:s1}:session"},
			call: func(s *Store) error {
				se, err := s.RotateRefresh(ctx, "s1", rot("h0", "h1"))
				if err == nil && se.RefreshHash != "h1" {
					err = errors.New("live hash " + se.RefreshHash)
				}
				return err
			},
			check: func(t *testing.T, s *Store) {
				if se, err := s.GetSession(ctx, "s1"); err != nil || se.RefreshHash != "h1" {
					t.Fatalf("session after the rotation: %+v, %v", se, err)
				}
			},
		},
		{
			name: "reuse",
			setup: func(t *testing.T, s *Store) {
				must(t, s.CreateSession(ctx, session))
				_, err := s.RotateRefresh(ctx, "s1", rot("h0", "h1"))
				must(t, err)
			},
			lose: []string{"eval", "{s:s1}:session"},
			call: func(s *Store) error {
				se, err := s.RotateRefresh(ctx, "s1", rot("h0", "stolen"))
				if !errors.Is(err, store.ErrRefreshReused) {
					return errors.New("want ErrRefreshReused (the caller revokes on it), got " + errString(err))
				}
				if se.UserID != "u1" {
					return errors.New("reuse did not return the session as it was")
				}
				return nil
			},
			check: func(t *testing.T, s *Store) {
				if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("session after reuse: %v", err)
				}
			},
		},
		{
			name: "create user",
			lose: []string{"eval", "{u}:user:u1"},
			call: func(s *Store) error { return s.CreateUser(ctx, user) },
			check: func(t *testing.T, s *Store) {
				if _, err := s.GetUserByUsername(ctx, "alice"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:  "update user",
			setup: func(t *testing.T, s *Store) { must(t, s.CreateUser(ctx, user)) },
			lose:  []string{"eval", "{u}:user:u1"},
			call: func(s *Store) error {
				u := user
				u.Username, u.Roles = "alicia", []string{"admin"}
				return s.UpdateUser(ctx, u)
			},
			check: func(t *testing.T, s *Store) {
				if u, err := s.GetUserByUsername(ctx, "alicia"); err != nil || len(u.Roles) != 1 {
					t.Fatalf("%+v, %v", u, err)
				}
				if _, err := s.GetUserByUsername(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("old name still indexed: %v", err)
				}
			},
		},
		{
			name:  "delete user",
			setup: func(t *testing.T, s *Store) { must(t, s.CreateUser(ctx, user)) },
			lose:  []string{"eval", "{u}:user:u1"},
			call:  func(s *Store) error { return s.DeleteUser(ctx, "u1") },
			check: func(t *testing.T, s *Store) {
				if _, err := s.GetUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("user after delete: %v", err)
				}
			},
		},
		{
			name:  "consume a one-time token: the token's script",
			setup: func(t *testing.T, s *Store) { must(t, s.PutOneTime(ctx, "reset", "t1", "u1", now.Add(time.Hour))) },
			lose:  []string{"eval", "ot:reset:t1"},
			call:  func(s *Store) error { return consumed(s.ConsumeOneTime(ctx, "reset", "t1")) },
			check: func(t *testing.T, s *Store) { wantUsed(t, s, "t1") },
		},
		{
			name:  "consume a one-time token: the owner's script",
			setup: func(t *testing.T, s *Store) { must(t, s.PutOneTime(ctx, "reset", "t1", "u1", now.Add(time.Hour))) },
			lose:  []string{"eval", "ot-user:reset:u1"},
			call:  func(s *Store) error { return consumed(s.ConsumeOneTime(ctx, "reset", "t1")) },
			check: func(t *testing.T, s *Store) { wantUsed(t, s, "t1") },
		},
		{
			name:  "put a one-time token over an earlier one",
			setup: func(t *testing.T, s *Store) { must(t, s.PutOneTime(ctx, "reset", "t1", "u1", now.Add(time.Hour))) },
			lose:  []string{"set", "ot-user:reset:u1", "get"},
			call:  func(s *Store) error { return s.PutOneTime(ctx, "reset", "t2", "u1", now.Add(time.Hour)) },
			check: func(t *testing.T, s *Store) {
				wantUsed(t, s, "t1")
				must(t, consumed(s.ConsumeOneTime(ctx, "reset", "t2")))
			},
		},
		{
			name: "shared secret",
			lose: []string{"eval", "secret:k"},
			call: func(s *Store) error {
				got, err := s.SharedSecret(ctx, "k", []byte("first"))
				if err == nil && string(got) != "first" {
					err = errors.New("got " + string(got))
				}
				return err
			},
		},
		{
			// The script compares versions; without comparing the bytes,
			// the retry would find the version its first run wrote and
			// answer ErrConflict for a write that was applied.
			name: "put second factors",
			setup: func(t *testing.T, s *Store) {
				_, err := s.PutSecondFactors(ctx, store.SecondFactors{UserID: "u1", RecoveryHashes: []string{"a", "b"}})
				must(t, err)
			},
			lose: []string{"eval", "{u}:second-factors:u1"},
			call: func(s *Store) error {
				f, err := s.PutSecondFactors(ctx, store.SecondFactors{UserID: "u1", Version: 1, RecoveryHashes: []string{"b"}})
				if err == nil && f.Version != 2 {
					err = fmt.Errorf("returned version %d, want 2", f.Version)
				}
				return err
			},
			check: func(t *testing.T, s *Store) {
				f, err := s.GetSecondFactors(ctx, "u1")
				if err != nil || f.Version != 2 || len(f.RecoveryHashes) != 1 {
					t.Fatalf("second factors after the put: %+v, %v", f, err)
				}
			},
		},
		{
			// go-redis never sends a MULTI/EXEC again once it was written:
			// the login answers 503; the session it wrote is complete,
			// known to no one, and expires with its refresh token.
			name: "create session (a transaction: not retried)",
			lose: []string{"exec"},
			call: func(s *Store) error { return s.CreateSession(ctx, session) },
			want: store.ErrUnavailable,
			check: func(t *testing.T, s *Store) {
				if se, err := s.GetSession(ctx, "s1"); err != nil || se.RefreshHash != "h0" {
					t.Fatalf("session written whole: %+v, %v", se, err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Do("FLUSHALL") // a private server: no one else's data
			s := New(redis.NewClient(&redis.Options{Addr: px.URL()[len("redis://"):]}), "authgate:")
			t.Cleanup(func() { _ = s.Close() })
			if tc.setup != nil {
				tc.setup(t, s)
			}
			lostBefore := px.Lost()
			px.LoseReplies(1, nil, tc.lose...)
			err := tc.call(s)
			px.LoseReplies(0, nil)
			if px.Lost() != lostBefore+1 {
				t.Fatalf("no reply was lost: the fault was not injected (call: %v)", err)
			}
			if (tc.want == nil && err != nil) || !errors.Is(err, tc.want) {
				t.Fatalf("with a lost reply: %v, want %v", err, tc.want)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// consumed is nil when ConsumeOneTime gave u1.
func consumed(uid string, err error) error {
	if err == nil && uid != "u1" {
		return errors.New("consumed for " + uid)
	}
	return err
}

// wantUsed fails unless the token can no longer be consumed.
func wantUsed(t *testing.T, s *Store, hash string) {
	t.Helper()
	if _, err := s.ConsumeOneTime(context.Background(), "reset", hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token %s consumed again: %v", hash, err)
	}
}
