package memstore

import (
	"context"
	"fmt"
	"time"

	"authgate/store"
)

// oneTimeKey is (purpose, token hash) in oneTime and (purpose, user ID) in
// oneTimeByUser.
type oneTimeKey struct{ purpose, key string }

type oneTime struct {
	userID    string
	expiresAt time.Time
}

// PutOneTime stores the token, replacing the user's earlier token of the
// same purpose.
func (s *Store) PutOneTime(ctx context.Context, purpose, hash, userID string, expiresAt time.Time) error {
	if err := s.lock(ctx, "put one-time token"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.maybeSweepLocked(s.now())
	byUser := oneTimeKey{purpose, userID}
	if old, ok := s.oneTimeByUser[byUser]; ok {
		k := oneTimeKey{purpose, old}
		s.deleteOneTimeLocked(k, s.oneTime[k])
	}
	k := oneTimeKey{purpose, hash}
	if prev, ok := s.oneTime[k]; ok {
		s.deleteOneTimeLocked(k, prev)
	}
	s.oneTime[k] = oneTime{userID: userID, expiresAt: expiresAt}
	s.oneTimeByUser[byUser] = hash
	return nil
}

// ConsumeOneTime deletes the token and returns its user; ErrNotFound when
// unknown, used, superseded or expired.
func (s *Store) ConsumeOneTime(ctx context.Context, purpose, hash string) (string, error) {
	if err := s.lock(ctx, "consume one-time token"); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	k := oneTimeKey{purpose, hash}
	tok, ok := s.oneTime[k]
	if !ok {
		return "", fmt.Errorf("consume %s token: %w", purpose, store.ErrNotFound)
	}
	s.deleteOneTimeLocked(k, tok)
	if !s.now().Before(tok.expiresAt) {
		return "", fmt.Errorf("consume %s token: %w", purpose, store.ErrNotFound)
	}
	return tok.userID, nil
}

// deleteOneTimeLocked removes the token k and, when it is the user's live
// one, the user's entry.
func (s *Store) deleteOneTimeLocked(k oneTimeKey, tok oneTime) {
	delete(s.oneTime, k)
	byUser := oneTimeKey{k.purpose, tok.userID}
	if s.oneTimeByUser[byUser] == k.key {
		delete(s.oneTimeByUser, byUser)
	}
}
