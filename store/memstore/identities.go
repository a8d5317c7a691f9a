package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"authgate/store"
)

// identityKey is (provider, subject).
type identityKey struct{ provider, subject string }

// LinkIdentity links the provider account to the user.
func (s *Store) LinkIdentity(ctx context.Context, id store.Identity) error {
	op := fmt.Sprintf("link %s identity", id.Provider)
	if err := s.lock(ctx, op); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[id.UserID]; !ok {
		return fmt.Errorf("%s: user %q: %w", op, id.UserID, store.ErrNotFound)
	}
	k := identityKey{id.Provider, id.Subject}
	if cur, ok := s.identities[k]; ok {
		if cur.UserID != id.UserID {
			return fmt.Errorf("%s: %w", op, store.ErrIdentityTaken)
		}
		return nil
	}
	s.identities[k] = id
	return nil
}

// IdentityUser returns the user linked to the provider account.
func (s *Store) IdentityUser(ctx context.Context, provider, subject string) (string, error) {
	op := fmt.Sprintf("find %s identity", provider)
	if err := s.lock(ctx, op); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	id, ok := s.identities[identityKey{provider, subject}]
	if !ok {
		return "", fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return id.UserID, nil
}

// UserIdentities lists the user's links by provider, then subject.
func (s *Store) UserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	if err := s.lock(ctx, "list identities"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.userIdentitiesLocked(userID), nil
}

func (s *Store) userIdentitiesLocked(userID string) []store.Identity {
	out := []store.Identity{}
	for _, id := range s.identities {
		if id.UserID == userID {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b store.Identity) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Subject, b.Subject))
	})
	return out
}

// UnlinkIdentity removes the link when it belongs to userID.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, provider, subject string) error {
	if err := s.lock(ctx, "unlink identity"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	k := identityKey{provider, subject}
	if cur, ok := s.identities[k]; ok && cur.UserID == userID {
		delete(s.identities, k)
	}
	return nil
}
