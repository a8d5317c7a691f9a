package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

const (
	// opaqueSecretBytes is the entropy of refresh and one-time tokens.
	opaqueSecretBytes = 32
	// opaqueSecretLen is its length in unpadded base64url.
	opaqueSecretLen = 43
	// maxPrefixLen bounds the prefix (the session ID of a refresh token).
	maxPrefixLen = 128
)

// NewOpaqueToken returns a new random token (256 bits, base64url without
// padding) and the hash to store in its place. With a prefix the token is
// prefix + "." + secret (refresh tokens are <sid>.<secret>, see
// SplitRefresh); hash is HashToken(secret) either way. The prefix must be
// 1 to 128 base64url characters.
func NewOpaqueToken(prefix string) (token, hash string, err error) {
	if prefix != "" && !validPrefix(prefix) {
		return "", "", fmt.Errorf("new token: prefix must be 1..%d base64url characters", maxPrefixLen)
	}
	var b [opaqueSecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	token = secret
	if prefix != "" {
		token = prefix + "." + secret
	}
	return token, HashToken(secret), nil
}

// HashToken returns the hex SHA-256 of a token's secret: what the store
// keeps instead of the secret. A fast hash is enough: the secret has 256
// random bits.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SplitRefresh splits a refresh token <sid>.<secret> made by
// NewOpaqueToken(sid). ok is false for anything else: wrong shape, sid
// longer than 128 characters or not base64url, secret not exactly 32 bytes
// of canonical unpadded base64url.
func SplitRefresh(token string) (sid, secret string, ok bool) {
	if len(token) > maxPrefixLen+1+opaqueSecretLen {
		return "", "", false
	}
	i := len(token) - opaqueSecretLen - 1
	if i < 1 || token[i] != '.' {
		return "", "", false
	}
	sid, secret = token[:i], token[i+1:]
	if !validPrefix(sid) {
		return "", "", false
	}
	var b [opaqueSecretBytes]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(secret)); err != nil || n != opaqueSecretBytes {
		return "", "", false
	}
	return sid, secret, true
}

// validPrefix reports whether s is 1..maxPrefixLen base64url characters.
func validPrefix(s string) bool {
	if len(s) == 0 || len(s) > maxPrefixLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
