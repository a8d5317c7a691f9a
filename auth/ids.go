package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/google/uuid"
)

// NewUserID returns a UUIDv7: unique, and ordered by creation time, so user
// listings page in the order accounts were made.
func NewUserID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new user id: %w", err)
	}
	return id.String(), nil
}

// randomID returns 128 random bits, base64url without padding (never a '.',
// so it can prefix a refresh token).
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
