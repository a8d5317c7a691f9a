package memstore

import (
	"context"
	"fmt"
	"time"
)

// RevokeSession records that sid is revoked until `until` (never shortening
// an existing revocation) and tells every watcher.
func (s *Store) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	if err := s.lock(ctx, "revoke session"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.now()
	s.maybeSweepLocked(now)
	if cur, ok := s.revoked[sid]; ok && cur.After(until) {
		until = cur
	}
	s.revoked[sid] = until
	if !now.Before(until) {
		delete(s.revoked, sid)
	}
	s.feed.Publish(sid, until)
	return nil
}

// RevokedSessions returns the revocations that have not expired.
func (s *Store) RevokedSessions(ctx context.Context) (map[string]time.Time, error) {
	if err := s.lock(ctx, "list revoked sessions"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.now()
	out := make(map[string]time.Time, len(s.revoked))
	for sid, until := range s.revoked {
		if now.Before(until) {
			out[sid] = until
		}
	}
	return out, nil
}

// WatchRevocations calls reconnect once it listens, then fn for every later
// revocation, until ctx ends (nil) or the store is closed (ErrUnavailable).
func (s *Store) WatchRevocations(ctx context.Context, fn func(sid string, until time.Time), reconnect func()) error {
	if err := s.lock(ctx, "watch revocations"); err != nil {
		return err
	}
	sub := s.feed.Subscribe()
	s.mu.Unlock()
	defer s.feed.Unsubscribe(sub)
	if err := sub.Run(ctx, fn, reconnect); err != nil {
		return fmt.Errorf("watch revocations: %w", err)
	}
	return nil
}
