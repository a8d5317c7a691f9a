package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"authgate/store"
)

// GetSecondFactors returns the user's record, or an empty one (Version 0).
func (s *Store) GetSecondFactors(ctx context.Context, userID string) (store.SecondFactors, error) {
	f := store.SecondFactors{UserID: userID}
	err := s.view(ctx, fmt.Sprintf("get second factors of %q", userID), func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketSecondFactors).Get([]byte(userID))
		if raw == nil {
			return nil
		}
		var err error
		// Decoding copies: raw is only valid inside the transaction.
		f, err = store.DecodeSecondFactors(raw)
		return err
	})
	return f, err
}

// PutSecondFactors compares the stored version and writes in one
// transaction, which bbolt runs alone.
func (s *Store) PutSecondFactors(ctx context.Context, f store.SecondFactors) (store.SecondFactors, error) {
	op := fmt.Sprintf("put second factors of %q", f.UserID)
	if f.UserID == "" {
		return store.SecondFactors{}, errors.New("put second factors: no user ID")
	}
	var out store.SecondFactors
	err := s.update(ctx, op, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecondFactors)
		k := []byte(f.UserID)
		next, stored, err := store.NextSecondFactors(bytes.Clone(b.Get(k)), f)
		if err != nil {
			return err
		}
		out = stored
		if next == nil {
			return nil // a retry of this very write, already stored
		}
		return b.Put(k, next)
	})
	if err != nil {
		return store.SecondFactors{}, err
	}
	return out, nil
}

// DeleteSecondFactors removes the user's record, if any.
func (s *Store) DeleteSecondFactors(ctx context.Context, userID string) error {
	if userID == "" {
		return nil
	}
	return s.update(ctx, fmt.Sprintf("delete second factors of %q", userID), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSecondFactors).Delete([]byte(userID))
	})
}
