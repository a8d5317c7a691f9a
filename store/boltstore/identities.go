package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"authgate/store"
)

// Provider names never hold a zero byte (config refuses them), so
// key(provider, subject) splits back unambiguously whatever the subject.

// LinkIdentity links the provider account to the user in one transaction.
func (s *Store) LinkIdentity(ctx context.Context, id store.Identity) error {
	return s.update(ctx, fmt.Sprintf("link %s identity", id.Provider), func(tx *bolt.Tx) error {
		if _, err := getUser(tx, []byte(id.UserID)); err != nil {
			return err
		}
		k := key(id.Provider, id.Subject)
		b := tx.Bucket(bucketIdentities)
		var cur store.Identity
		ok, err := getJSON(b, k, &cur)
		if err != nil {
			return err
		}
		if ok {
			if cur.UserID != id.UserID {
				return store.ErrIdentityTaken
			}
			return nil
		}
		if err := putJSON(b, k, id); err != nil {
			return err
		}
		return tx.Bucket(bucketUserIdentities).Put(key(id.UserID, id.Provider, id.Subject), present)
	})
}

// IdentityUser returns the user linked to the provider account.
func (s *Store) IdentityUser(ctx context.Context, provider, subject string) (string, error) {
	var userID string
	err := s.view(ctx, fmt.Sprintf("find %s identity", provider), func(tx *bolt.Tx) error {
		var id store.Identity
		ok, err := getJSON(tx.Bucket(bucketIdentities), key(provider, subject), &id)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		userID = id.UserID
		return nil
	})
	return userID, err
}

// UserIdentities lists the user's links by provider, then subject (the
// order of their keys).
func (s *Store) UserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	out := []store.Identity{}
	err := s.view(ctx, "list identities", func(tx *bolt.Tx) error {
		var err error
		out, err = userIdentities(tx, userID)
		return err
	})
	return out, err
}

func userIdentities(tx *bolt.Tx, userID string) ([]store.Identity, error) {
	out := []store.Identity{}
	prefix := key(userID, "")
	ids := tx.Bucket(bucketIdentities)
	c := tx.Bucket(bucketUserIdentities).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var id store.Identity
		ok, err := getJSON(ids, k[len(prefix):], &id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// UnlinkIdentity removes the link when it belongs to userID.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, provider, subject string) error {
	return s.update(ctx, "unlink identity", func(tx *bolt.Tx) error {
		return unlink(tx, userID, provider, subject)
	})
}

func unlink(tx *bolt.Tx, userID, provider, subject string) error {
	k := key(provider, subject)
	b := tx.Bucket(bucketIdentities)
	var cur store.Identity
	ok, err := getJSON(b, k, &cur)
	if err != nil || !ok || cur.UserID != userID {
		return err
	}
	if err := b.Delete(k); err != nil {
		return err
	}
	return tx.Bucket(bucketUserIdentities).Delete(key(userID, provider, subject))
}
