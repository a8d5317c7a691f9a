package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// revocationRecord is the value in the revocations bucket.
type revocationRecord struct {
	Until time.Time `json:"until"`
}

// RevokeSession records that sid is revoked until `until` (never shortening
// an existing revocation) and tells every watcher of this process.
func (s *Store) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	err := s.update(ctx, fmt.Sprintf("revoke session %q", sid), func(tx *bolt.Tx) error {
		b, k := tx.Bucket(bucketRevocations), []byte(sid)
		var cur revocationRecord
		ok, err := getJSON(b, k, &cur)
		if err != nil {
			return err
		}
		if ok {
			if !until.After(cur.Until) {
				until = cur.Until
				return nil
			}
			if err := removeExpiry(tx, cur.Until, kindRevocation, k); err != nil {
				return err
			}
		}
		if !s.now().Before(until) {
			return b.Delete(k)
		}
		if err := putJSON(b, k, revocationRecord{Until: until}); err != nil {
			return err
		}
		return addExpiry(tx, until, kindRevocation, k)
	})
	if err != nil {
		return err
	}
	s.feed.Publish(sid, until)
	return nil
}

// deleteRevocationIfExpired is the sweeper's part for revocations.
func deleteRevocationIfExpired(tx *bolt.Tx, sid []byte, now time.Time) error {
	b := tx.Bucket(bucketRevocations)
	var cur revocationRecord
	ok, err := getJSON(b, sid, &cur)
	if err != nil || !ok || now.Before(cur.Until) {
		return err
	}
	return b.Delete(sid)
}

// RevokedSessions returns the revocations that have not expired.
func (s *Store) RevokedSessions(ctx context.Context) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(ctx, "list revoked sessions", func(tx *bolt.Tx) error {
		now := s.now()
		return tx.Bucket(bucketRevocations).ForEach(func(k, v []byte) error {
			var r revocationRecord
			if err := jsonUnmarshal(k, v, &r); err != nil {
				return err
			}
			if now.Before(r.Until) {
				out[string(k)] = r.Until
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WatchRevocations calls reconnect once it listens, then fn for every later
// revocation, until ctx ends (nil) or the store is closed (ErrUnavailable).
func (s *Store) WatchRevocations(ctx context.Context, fn func(sid string, until time.Time), reconnect func()) error {
	if err := s.Ping(ctx); err != nil {
		return fmt.Errorf("watch revocations: %w", err)
	}
	sub := s.feed.Subscribe()
	defer s.feed.Unsubscribe(sub)
	if err := sub.Run(ctx, fn, reconnect); err != nil {
		return fmt.Errorf("watch revocations: %w", err)
	}
	return nil
}
