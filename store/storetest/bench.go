package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authgate/store"
)

// BenchRotateRefresh measures one refresh-token rotation on s, the store
// call of every POST /auth/refresh. Each backend's BenchmarkRotateRefresh
// runs it.
func BenchRotateRefresh(b *testing.B, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	se := store.Session{ID: "bench", UserID: "u", RefreshHash: "h0", CreatedAt: now, RefreshExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}
	if err := s.CreateSession(ctx, se); err != nil {
		b.Fatal(err)
	}
	live := "h0"
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		next := fmt.Sprintf("h%d", i+1)
		if _, err := s.RotateRefresh(ctx, "bench", rotation(live, next, now.Add(time.Hour))); err != nil {
			b.Fatal(err)
		}
		live = next
	}
}
