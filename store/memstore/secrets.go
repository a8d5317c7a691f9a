package memstore

import (
	"context"
	"slices"
)

// SharedSecret returns the secret stored under name, storing candidate
// first when there is none; see store.Secrets.
func (s *Store) SharedSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	if err := s.lock(ctx, "shared secret"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if cur, ok := s.secrets[name]; ok {
		return slices.Clone(cur), nil
	}
	s.secrets[name] = slices.Clone(candidate)
	return slices.Clone(candidate), nil
}
