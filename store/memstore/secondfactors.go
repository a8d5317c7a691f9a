package memstore

import (
	"authgate/store"
	"context"
)

// GetSecondFactors returns the user's record, or an empty one (Version 0).
func (s *Store) GetSecondFactors(ctx context.Context, userID string) (store.SecondFactors, error) {
	if err := s.lock(ctx, "get second factors"); err != nil {
		return store.SecondFactors{}, err
	}
	b, ok := s.secondFactors[userID]
	s.mu.Unlock()
	if !ok {
		return store.SecondFactors{UserID: userID}, nil
	}
	// Decoding makes new slices: the caller cannot reach the stored bytes.
	return store.DecodeSecondFactors(b)
}

// PutSecondFactors stores f when the stored version is f.Version.
func (s *Store) PutSecondFactors(ctx context.Context, f store.SecondFactors) (store.SecondFactors, error) {
	if err := s.lock(ctx, "put second factors"); err != nil {
		return store.SecondFactors{}, err
	}
	defer s.mu.Unlock()
	next, out, err := store.NextSecondFactors(s.secondFactors[f.UserID], f)
	if err != nil {
		return store.SecondFactors{}, err
	}
	if next != nil {
		s.secondFactors[f.UserID] = next
	}
	return out, nil
}

// DeleteSecondFactors removes the user's record, if any.
func (s *Store) DeleteSecondFactors(ctx context.Context, userID string) error {
	if err := s.lock(ctx, "delete second factors"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.secondFactors, userID)
	return nil
}

var _ store.SecondFactorStore = (*Store)(nil)
