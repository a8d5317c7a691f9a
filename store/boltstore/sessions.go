package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"authgate/store"
)

// CreateSession stores se, indexed under its user and by its refresh expiry.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	return s.update(ctx, fmt.Sprintf("create session %q", se.ID), func(tx *bolt.Tx) error {
		if _, err := deleteSession(tx, se.ID); err != nil {
			return err
		}
		return putSession(tx, se)
	})
}

// putSession writes se with its user and expiry index entries.
func putSession(tx *bolt.Tx, se store.Session) error {
	sid := []byte(se.ID)
	if err := putJSON(tx.Bucket(bucketSessions), sid, se); err != nil {
		return err
	}
	if err := tx.Bucket(bucketUserSessions).Put(key(se.UserID, se.ID), present); err != nil {
		return err
	}
	return addExpiry(tx, se.RefreshExpiresAt, kindSession, sid)
}

// getSession reads session sid; false when missing or expired at now.
func getSession(tx *bolt.Tx, sid string, now time.Time) (store.Session, bool, error) {
	var se store.Session
	ok, err := getJSON(tx.Bucket(bucketSessions), []byte(sid), &se)
	if err != nil || !ok {
		return se, false, err
	}
	return se, now.Before(se.RefreshExpiresAt), nil
}

// deleteSession removes session sid with its index entries and spent
// hashes, returning it; a missing session is no error.
func deleteSession(tx *bolt.Tx, sid string) (store.Session, error) {
	var se store.Session
	ok, err := getJSON(tx.Bucket(bucketSessions), []byte(sid), &se)
	if err != nil || !ok {
		return se, err
	}
	if err := tx.Bucket(bucketSessions).Delete([]byte(sid)); err != nil {
		return se, err
	}
	if err := tx.Bucket(bucketUserSessions).Delete(key(se.UserID, sid)); err != nil {
		return se, err
	}
	if err := removeExpiry(tx, se.RefreshExpiresAt, kindSession, []byte(sid)); err != nil {
		return se, err
	}
	spent := tx.Bucket(bucketSpent)
	prefix := key(sid, "")
	var hashes [][]byte
	c := spent.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		hashes = append(hashes, append([]byte(nil), k...))
	}
	for _, k := range hashes {
		if err := spent.Delete(k); err != nil {
			return se, err
		}
	}
	return se, nil
}

// deleteSessionIfExpired is the sweeper's part for sessions.
func deleteSessionIfExpired(tx *bolt.Tx, sid string, now time.Time) error {
	if _, live, err := getSession(tx, sid, now); err != nil || live {
		return err
	}
	_, err := deleteSession(tx, sid)
	return err
}

// spentRecord is what a rotation remembers of the hash it spent. Records
// written before replays existed are "1", which decodes to no successor:
// presenting such a hash is always reuse.
type spentRecord struct {
	Next string    `json:"next"`
	At   time.Time `json:"at"`
}

// RotateRefresh replaces the live refresh hash of sid in one transaction;
// see store.Sessions.
func (s *Store) RotateRefresh(ctx context.Context, sid string, r store.Rotation) (store.Session, error) {
	var out store.Session
	// outcome is decided inside the transaction but returned after it, so
	// that deleting a reused or expired session is committed.
	var outcome error
	op := fmt.Sprintf("rotate refresh of session %q", sid)
	err := s.update(ctx, op, func(tx *bolt.Tx) error {
		now := s.now()
		se, live, err := getSession(tx, sid, now)
		switch {
		case err != nil:
			return err
		case !live:
			outcome = store.ErrNotFound
			_, err := deleteSession(tx, sid)
			return err
		case r.PresentedHash == se.RefreshHash:
			if err := putJSON(tx.Bucket(bucketSpent), key(sid, r.PresentedHash), spentRecord{Next: r.NextHash, At: now}); err != nil {
				return err
			}
			if err := removeExpiry(tx, se.RefreshExpiresAt, kindSession, []byte(sid)); err != nil {
				return err
			}
			se.RefreshHash = r.NextHash
			se.RefreshExpiresAt = r.RefreshExpiresAt
			if r.RefreshExpiresAt.After(se.ExpiresAt) {
				se.RefreshExpiresAt = se.ExpiresAt
			}
			out = se
			return putSession(tx, se)
		}
		raw := tx.Bucket(bucketSpent).Get(key(sid, r.PresentedHash))
		if raw == nil {
			outcome = store.ErrNotFound
			return nil
		}
		var sp spentRecord
		if json.Unmarshal(raw, &sp) == nil && sp.Next == r.NextHash && now.Sub(sp.At) < r.Grace {
			out = se // replay: nothing changes
			return nil
		}
		out, outcome = se, store.ErrRefreshReused
		_, err = deleteSession(tx, sid)
		return err
	})
	if err != nil {
		return store.Session{}, err
	}
	if outcome != nil {
		return out, fmt.Errorf("%s: %w", op, outcome)
	}
	return out, nil
}

// SharedSecret returns the secret stored under name, storing candidate
// first when there is none; see store.Secrets. The file keeps it across
// restarts.
func (s *Store) SharedSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var out []byte
	err := s.update(ctx, "shared secret", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if cur := b.Get([]byte(name)); cur != nil {
			out = bytes.Clone(cur)
			return nil
		}
		out = bytes.Clone(candidate)
		return b.Put([]byte(name), out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetSession returns session sid; ErrNotFound when missing or expired.
func (s *Store) GetSession(ctx context.Context, sid string) (store.Session, error) {
	var out store.Session
	err := s.view(ctx, fmt.Sprintf("get session %q", sid), func(tx *bolt.Tx) error {
		se, live, err := getSession(tx, sid, s.now())
		if err != nil {
			return err
		}
		if !live {
			return store.ErrNotFound
		}
		out = se
		return nil
	})
	return out, err
}

// DeleteSession removes the session; a missing one is no error.
func (s *Store) DeleteSession(ctx context.Context, sid string) error {
	return s.update(ctx, fmt.Sprintf("delete session %q", sid), func(tx *bolt.Tx) error {
		_, err := deleteSession(tx, sid)
		return err
	})
}

// UserSessions lists the IDs of the user's live sessions.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]string, error) {
	var out []string
	err := s.view(ctx, fmt.Sprintf("list sessions of user %q", userID), func(tx *bolt.Tx) error {
		now := s.now()
		prefix := key(userID, "")
		c := tx.Bucket(bucketUserSessions).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			sid := string(k[len(prefix):])
			_, live, err := getSession(tx, sid, now)
			if err != nil {
				return err
			}
			if live {
				out = append(out, sid)
			}
		}
		return nil
	})
	return out, err
}
