package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Refresh successors are derived, not drawn at random:
//
//	successor secret = base64url(HMAC-SHA256(K, "authgate refresh successor v1" 0x00 presented secret))
//
// so that presenting the same refresh token twice asks the store for the
// same next hash. That is what lets a retry (go-redis after a lost reply,
// a client after a 503) or a second tab be told from a thief: the store
// keeps, with each spent hash, the hash of its successor, and within
// tokens.refresh_reuse_grace a rotation asking for that same successor is
// a replay that hands the same token out again. Tokens are still never
// stored in clear, and the successor of a token cannot be guessed without
// K. The first token of a session stays random (crypto/rand), so every
// chain starts from 256 unguessable bits.
//
// K is made once, at random, and kept in the store (set-if-absent), so
// every instance sharing the store derives the same successors and a
// restart keeps them. Whoever can read K from the store and also holds a
// spent token could compute its successors; that is no more than what the
// spent token's holder could do with the live token, and reading the store
// already gives away far more.

// successorKeyName is the store name of K.
const successorKeyName = "refresh-successor-v1"

// successorKeyBytes is the size of K.
const successorKeyBytes = 32

// maxReplaySteps bounds how many links of a chain of rotations one refresh
// follows: within the replay window a chain is one or two links long
// (tabs refreshing at once all get the same successor).
const maxReplaySteps = 8

// successor returns the refresh token that replaces <sid>.<secret> and the
// secret part of it.
func successor(key []byte, sid, secret string) (token, nextSecret string) {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("authgate refresh successor v1\x00"))
	m.Write([]byte(secret))
	nextSecret = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	return sid + "." + nextSecret, nextSecret
}

// loadSuccessorKey returns K, from memory after the first success.
func (s *Sessions) loadSuccessorKey(ctx context.Context) ([]byte, error) {
	if k := s.successorKey.Load(); k != nil {
		return *k, nil
	}
	candidate := make([]byte, successorKeyBytes)
	if _, err := rand.Read(candidate); err != nil {
		return nil, fmt.Errorf("refresh successor key: %w", err)
	}
	k, err := s.st.SharedSecret(ctx, successorKeyName, candidate)
	if err != nil {
		return nil, fmt.Errorf("refresh successor key: %w", err)
	}
	if len(k) < successorKeyBytes {
		return nil, fmt.Errorf("refresh successor key: the store holds %d bytes, want %d", len(k), successorKeyBytes)
	}
	s.successorKey.Store(&k)
	return k, nil
}
