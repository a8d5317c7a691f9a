package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"authgate/store"
)

// RunUnavailable checks that every method of s, a store whose backend is
// gone (closed, or unreachable), fails with an error that is
// store.ErrUnavailable, so that handlers answer 503. WatchRevocations is
// checked only when watch is true (an unreachable Redis keeps waiting).
func RunUnavailable(t *testing.T, s store.Store, watch bool) {
	t.Helper()
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"CreateUser", func() error {
			return s.CreateUser(ctx, store.User{ID: "u", Username: "u", Email: "u@example.com"})
		}},
		{"GetUser", func() error { _, err := s.GetUser(ctx, "u"); return err }},
		{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(ctx, "u"); return err }},
		{"GetUserByEmail", func() error { _, err := s.GetUserByEmail(ctx, "u@example.com"); return err }},
		{"UpdateUser", func() error { return s.UpdateUser(ctx, store.User{ID: "u", Username: "u"}) }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "u") }},
		{"ListUsers", func() error { _, _, err := s.ListUsers(ctx, "", 10); return err }},
		{"CreateSession", func() error {
			return s.CreateSession(ctx, store.Session{ID: "s", UserID: "u", RefreshExpiresAt: later, ExpiresAt: later})
		}},
		{"RotateRefresh", func() error {
			_, err := s.RotateRefresh(ctx, "s", store.Rotation{PresentedHash: "a", NextHash: "b", RefreshExpiresAt: later, Grace: time.Minute})
			return err
		}},
		{"GetSession", func() error { _, err := s.GetSession(ctx, "s"); return err }},
		{"DeleteSession", func() error { return s.DeleteSession(ctx, "s") }},
		{"UserSessions", func() error { _, err := s.UserSessions(ctx, "u"); return err }},
		{"RevokeSession", func() error { return s.RevokeSession(ctx, "s", later) }},
		{"RevokedSessions", func() error { _, err := s.RevokedSessions(ctx); return err }},
		{"PutOneTime", func() error { return s.PutOneTime(ctx, "p", "h", "u", later) }},
		{"SharedSecret", func() error { _, err := s.SharedSecret(ctx, "k", []byte("v")); return err }},
		{"ConsumeOneTime", func() error { _, err := s.ConsumeOneTime(ctx, "p", "h"); return err }},
		{"GetSecondFactors", func() error { _, err := s.GetSecondFactors(ctx, "u"); return err }},
		{"PutSecondFactors", func() error {
			_, err := s.PutSecondFactors(ctx, store.SecondFactors{UserID: "u", RecoveryHashes: []string{"h"}})
			return err
		}},
		{"DeleteSecondFactors", func() error { return s.DeleteSecondFactors(ctx, "u") }},
	}
	if watch {
		calls = append(calls, struct {
			name string
			call func() error
		}{"WatchRevocations", func() error { return s.WatchRevocations(ctx, func(string, time.Time) {}, func() {}) }})
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("%s = %v, want ErrUnavailable", tc.name, err)
			}
		})
	}
}
