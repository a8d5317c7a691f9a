package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"authgate/store"
)

// CreateUser stores u and its index entries in one transaction;
// ErrUsernameTaken or ErrEmailTaken on a folded clash.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.update(ctx, fmt.Sprintf("create user %q", u.Username), func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("id %q: %w", u.ID, errIDInUse)
		}
		name, email := []byte(store.Fold(u.Username)), []byte(store.Fold(u.Email))
		byName, byEmail := tx.Bucket(bucketUsersByName), tx.Bucket(bucketUsersByEmail)
		if byName.Get(name) != nil {
			return store.ErrUsernameTaken
		}
		if len(email) > 0 && byEmail.Get(email) != nil {
			return store.ErrEmailTaken
		}
		if err := putJSON(users, []byte(u.ID), u); err != nil {
			return err
		}
		if err := byName.Put(name, []byte(u.ID)); err != nil {
			return err
		}
		if len(email) > 0 {
			return byEmail.Put(email, []byte(u.ID))
		}
		return nil
	})
}

// GetUser returns the user with this ID; ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	var u store.User
	err := s.view(ctx, fmt.Sprintf("get user %q", id), func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, []byte(id))
		return err
	})
	return u, err
}

// GetUserByUsername returns the user whose folded username matches; ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	return s.getBy(ctx, "username", bucketUsersByName, username)
}

// GetUserByEmail returns the user whose folded email matches; ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	return s.getBy(ctx, "email", bucketUsersByEmail, email)
}

func (s *Store) getBy(ctx context.Context, what string, index []byte, k string) (store.User, error) {
	var u store.User
	err := s.view(ctx, fmt.Sprintf("get user by %s %q", what, k), func(tx *bolt.Tx) error {
		folded := store.Fold(k)
		if folded == "" {
			return store.ErrNotFound
		}
		id := tx.Bucket(index).Get([]byte(folded))
		if id == nil {
			return store.ErrNotFound
		}
		var err error
		u, err = getUser(tx, id)
		return err
	})
	return u, err
}

// getUser reads user id; ErrNotFound.
func getUser(tx *bolt.Tx, id []byte) (store.User, error) {
	var u store.User
	ok, err := getJSON(tx.Bucket(bucketUsers), id, &u)
	if err == nil && !ok {
		err = store.ErrNotFound
	}
	return u, err
}

// UpdateUser replaces the user with u.ID and moves its index entries, all
// in one transaction.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	return s.update(ctx, fmt.Sprintf("update user %q", u.ID), func(tx *bolt.Tx) error {
		id := []byte(u.ID)
		old, err := getUser(tx, id)
		if err != nil {
			return err
		}
		byName, byEmail := tx.Bucket(bucketUsersByName), tx.Bucket(bucketUsersByEmail)
		name, email := []byte(store.Fold(u.Username)), []byte(store.Fold(u.Email))
		if owner := byName.Get(name); owner != nil && !bytes.Equal(owner, id) {
			return store.ErrUsernameTaken
		}
		if owner := byEmail.Get(email); len(email) > 0 && owner != nil && !bytes.Equal(owner, id) {
			return store.ErrEmailTaken
		}
		if err := byName.Delete([]byte(store.Fold(old.Username))); err != nil {
			return err
		}
		if oldEmail := store.Fold(old.Email); oldEmail != "" {
			if err := byEmail.Delete([]byte(oldEmail)); err != nil {
				return err
			}
		}
		if err := byName.Put(name, id); err != nil {
			return err
		}
		if len(email) > 0 {
			if err := byEmail.Put(email, id); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bucketUsers), id, u)
	})
}

// DeleteUser removes the user and its index entries; ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete user %q", id), func(tx *bolt.Tx) error {
		u, err := getUser(tx, []byte(id))
		if err != nil {
			return err
		}
		links, err := userIdentities(tx, id)
		if err != nil {
			return err
		}
		for _, l := range links {
			if err := unlink(tx, id, l.Provider, l.Subject); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketSecondFactors).Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUsersByName).Delete([]byte(store.Fold(u.Username))); err != nil {
			return err
		}
		if email := store.Fold(u.Email); email != "" {
			if err := tx.Bucket(bucketUsersByEmail).Delete([]byte(email)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketUsers).Delete([]byte(id))
	})
}

// ListUsers returns up to limit users ordered by ID after the ID `after`,
// and the cursor of the next page ("" at the end).
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]store.User, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("list users: limit %d is not positive", limit)
	}
	var page []store.User
	next := ""
	err := s.view(ctx, "list users", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsers).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil; k, v = c.Next() {
			if len(page) == limit {
				next = page[limit-1].ID
				return nil
			}
			var u store.User
			if err := jsonUnmarshal(k, v, &u); err != nil {
				return err
			}
			page = append(page, u)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return page, next, nil
}
