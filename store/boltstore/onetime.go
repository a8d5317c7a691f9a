package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"authgate/store"
)

// oneTimeRecord is the value in the one_time bucket.
type oneTimeRecord struct {
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PutOneTime stores the token, deleting the user's earlier token of the
// same purpose, in one transaction.
func (s *Store) PutOneTime(ctx context.Context, purpose, hash, userID string, expiresAt time.Time) error {
	return s.update(ctx, "put "+purpose+" token", func(tx *bolt.Tx) error {
		byUser := tx.Bucket(bucketOneTimeByUser)
		userKey := key(purpose, userID)
		if old := byUser.Get(userKey); old != nil {
			if _, err := deleteOneTime(tx, key(purpose, string(old))); err != nil {
				return err
			}
		}
		k := key(purpose, hash)
		if _, err := deleteOneTime(tx, k); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketOneTime), k, oneTimeRecord{UserID: userID, ExpiresAt: expiresAt}); err != nil {
			return err
		}
		if err := byUser.Put(userKey, []byte(hash)); err != nil {
			return err
		}
		return addExpiry(tx, expiresAt, kindOneTime, k)
	})
}

// ConsumeOneTime deletes the token and returns its user; ErrNotFound when
// unknown, used, superseded or expired.
func (s *Store) ConsumeOneTime(ctx context.Context, purpose, hash string) (string, error) {
	var tok oneTimeRecord
	op := "consume " + purpose + " token"
	err := s.update(ctx, op, func(tx *bolt.Tx) error {
		var err error
		tok, err = deleteOneTime(tx, key(purpose, hash))
		return err
	})
	if err != nil {
		return "", err
	}
	// An expired token is deleted (committed above) and reported missing.
	if tok.UserID == "" || !s.now().Before(tok.ExpiresAt) {
		return "", fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return tok.UserID, nil
}

// deleteOneTime removes token k (purpose, 0, hash) with its index entries
// and returns it; a missing token is no error.
func deleteOneTime(tx *bolt.Tx, k []byte) (oneTimeRecord, error) {
	var tok oneTimeRecord
	b := tx.Bucket(bucketOneTime)
	ok, err := getJSON(b, k, &tok)
	if err != nil || !ok {
		return tok, err
	}
	if err := b.Delete(k); err != nil {
		return tok, err
	}
	if err := removeExpiry(tx, tok.ExpiresAt, kindOneTime, k); err != nil {
		return tok, err
	}
	purpose, hash, _ := cut(k)
	byUser := tx.Bucket(bucketOneTimeByUser)
	userKey := key(purpose, tok.UserID)
	if string(byUser.Get(userKey)) == hash {
		return tok, byUser.Delete(userKey)
	}
	return tok, nil
}

// deleteOneTimeIfExpired is the sweeper's part for one-time tokens.
func deleteOneTimeIfExpired(tx *bolt.Tx, k []byte, now time.Time) error {
	var tok oneTimeRecord
	ok, err := getJSON(tx.Bucket(bucketOneTime), k, &tok)
	if err != nil || !ok || now.Before(tok.ExpiresAt) {
		return err
	}
	_, err = deleteOneTime(tx, k)
	return err
}

// cut splits a key made by key(a, b) at its first zero byte.
func cut(k []byte) (a, b string, ok bool) {
	for i, c := range k {
		if c == 0 {
			return string(k[:i]), string(k[i+1:]), true
		}
	}
	return string(k), "", false
}
