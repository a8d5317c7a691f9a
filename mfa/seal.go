package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealed secrets are
//
//	version (1 byte, sealVersion) | key id (1 byte) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The additional data is the two header bytes, a purpose label and the
// user's ID: a sealed secret copied onto another user's record, or a header
// edited to point at another key, fails to open. The key id names the key
// (the first byte of a hash of it) so that a later rotation can keep old keys
// for opening while a new one seals; ids may collide, so every key with the
// id is tried (a wrong key cannot open: GCM authenticates).
const (
	sealVersion  = 1
	sealOverhead = 2 + 12 + 16
)

// ErrUnseal is returned when a sealed secret cannot be opened: it was
// tampered with, belongs to another user, or was sealed under a key that is
// no longer configured.
var ErrUnseal = errors.New("mfa: sealed secret cannot be opened (tampered, another user's, or an unknown key)")

// Sealer seals secrets at rest under the configured key.
type Sealer struct {
	seal  sealKey
	open  []sealKey
	label string
}

type sealKey struct {
	id   byte
	aead cipher.AEAD
}

// NewSealer seals with key (32 bytes) and opens with it and with old keys.
func NewSealer(key []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{label: "authgate mfa totp secret"}
	for i, k := range append([][]byte{key}, old...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("mfa: encryption key %d has %d bytes, AES-256 needs 32", i, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(append([]byte("authgate mfa key id\x00"), k...))
		s.open = append(s.open, sealKey{id: sum[0], aead: aead})
	}
	s.seal = s.open[0]
	return s, nil
}

func (s *Sealer) aad(version, id byte, userID string) []byte {
	b := make([]byte, 0, 2+len(s.label)+1+len(userID))
	b = append(b, version, id)
	b = append(b, s.label...)
	b = append(b, 0)
	return append(b, userID...)
}

// Seal encrypts secret for userID.
func (s *Sealer) Seal(userID string, secret []byte) ([]byte, error) {
	out := make([]byte, 2+12, sealOverhead+len(secret))
	out[0], out[1] = sealVersion, s.seal.id
	if _, err := rand.Read(out[2:14]); err != nil {
		return nil, fmt.Errorf("mfa: nonce: %w", err)
	}
	return s.seal.aead.Seal(out, out[2:14], secret, s.aad(sealVersion, s.seal.id, userID)), nil
}

// Open decrypts what Seal made for userID.
func (s *Sealer) Open(userID string, sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	for _, k := range s.open {
		if k.id != sealed[1] {
			continue
		}
		if p, err := k.aead.Open(nil, sealed[2:14], sealed[14:], s.aad(sealed[0], sealed[1], userID)); err == nil {
			return p, nil
		}
	}
	return nil, ErrUnseal
}
