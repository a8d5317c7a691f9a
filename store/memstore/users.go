package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"authgate/store"
)

// clone returns u with its own copy of Roles.
func clone(u store.User) store.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

// CreateUser stores u; ErrUsernameTaken or ErrEmailTaken on a folded clash.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := s.lock(ctx, "create user"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("create user: id %q already in use", u.ID)
	}
	name, email := store.Fold(u.Username), store.Fold(u.Email)
	if _, ok := s.byName[name]; ok {
		return fmt.Errorf("create user %q: %w", u.Username, store.ErrUsernameTaken)
	}
	if _, ok := s.byEmail[email]; ok && email != "" {
		return fmt.Errorf("create user %q: %w", u.Username, store.ErrEmailTaken)
	}
	s.users[u.ID] = clone(u)
	s.byName[name] = u.ID
	if email != "" {
		s.byEmail[email] = u.ID
	}
	return nil
}

// GetUser returns the user with this ID; ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	if err := s.lock(ctx, "get user"); err != nil {
		return store.User{}, err
	}
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return store.User{}, fmt.Errorf("get user %q: %w", id, store.ErrNotFound)
	}
	return clone(u), nil
}

// GetUserByUsername returns the user whose folded username matches; ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	return s.getBy(ctx, "username", s.byName, username)
}

// GetUserByEmail returns the user whose folded email matches; ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	return s.getBy(ctx, "email", s.byEmail, email)
}

// getBy looks key up, folded, in the index (read under the lock).
func (s *Store) getBy(ctx context.Context, what string, index map[string]string, key string) (store.User, error) {
	if err := s.lock(ctx, "get user by "+what); err != nil {
		return store.User{}, err
	}
	defer s.mu.Unlock()
	folded := store.Fold(key)
	id, ok := index[folded]
	if !ok || folded == "" {
		return store.User{}, fmt.Errorf("get user by %s %q: %w", what, key, store.ErrNotFound)
	}
	return clone(s.users[id]), nil
}

// UpdateUser replaces the user with u.ID and moves its index entries.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	if err := s.lock(ctx, "update user"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	old, ok := s.users[u.ID]
	if !ok {
		return fmt.Errorf("update user %q: %w", u.ID, store.ErrNotFound)
	}
	oldName, oldEmail := store.Fold(old.Username), store.Fold(old.Email)
	name, email := store.Fold(u.Username), store.Fold(u.Email)
	if id, ok := s.byName[name]; ok && id != u.ID {
		return fmt.Errorf("update user %q: %w", u.ID, store.ErrUsernameTaken)
	}
	if id, ok := s.byEmail[email]; ok && id != u.ID && email != "" {
		return fmt.Errorf("update user %q: %w", u.ID, store.ErrEmailTaken)
	}
	delete(s.byName, oldName)
	if oldEmail != "" {
		delete(s.byEmail, oldEmail)
	}
	s.byName[name] = u.ID
	if email != "" {
		s.byEmail[email] = u.ID
	}
	s.users[u.ID] = clone(u)
	return nil
}

// DeleteUser removes the user and its index entries; ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if err := s.lock(ctx, "delete user"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("delete user %q: %w", id, store.ErrNotFound)
	}
	delete(s.users, id)
	delete(s.secondFactors, id)
	for _, l := range s.userIdentitiesLocked(id) {
		delete(s.identities, identityKey{l.Provider, l.Subject})
	}
	delete(s.byName, store.Fold(u.Username))
	if email := store.Fold(u.Email); email != "" {
		delete(s.byEmail, email)
	}
	return nil
}

// ListUsers returns up to limit users ordered by ID after the ID `after`,
// and the cursor of the next page ("" at the end).
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]store.User, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("list users: limit %d is not positive", limit)
	}
	if err := s.lock(ctx, "list users"); err != nil {
		return nil, "", err
	}
	defer s.mu.Unlock()
	var page []store.User
	for id, u := range s.users {
		if id > after {
			page = append(page, u)
		}
	}
	slices.SortFunc(page, func(a, b store.User) int { return cmp.Compare(a.ID, b.ID) })
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = page[limit-1].ID
	}
	for i := range page {
		page[i] = clone(page[i])
	}
	return page, next, nil
}
