package mfa

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealer(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s1, err := NewSealer(k1)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXP")
	sealed, err := s1.Seal("u1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s1.Open("u1", sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if again, _ := s1.Seal("u1", secret); bytes.Equal(again, sealed) {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	s2, _ := NewSealer(k2)
	rotated, _ := NewSealer(k2, k1)
	refused := []struct {
		name   string
		s      *Sealer
		user   string
		sealed []byte
	}{
		{"another user's ID", s1, "u2", sealed},
		{"another key", s2, "u1", sealed},
		{"truncated", s1, "u1", sealed[:len(sealed)-1]},
		{"empty", s1, "u1", nil},
		{"unknown version", s1, "u1", flip(sealed, 0)},
		{"key id changed", s1, "u1", flip(sealed, 1)},
		{"nonce changed", s1, "u1", flip(sealed, 5)},
		{"ciphertext changed", s1, "u1", flip(sealed, 16)},
		{"tag changed", s1, "u1", flip(sealed, len(sealed)-1)},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.s.Open(tt.user, tt.sealed); !errors.Is(err, ErrUnseal) || got != nil {
				t.Errorf("Open = %q, %v; want ErrUnseal", got, err)
			}
		})
	}
	t.Run("an old key still opens after rotation, the new one seals", func(t *testing.T) {
		if got, err := rotated.Open("u1", sealed); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("old secret under rotated sealer: %q, %v", got, err)
		}
		fresh, _ := rotated.Seal("u1", secret)
		if _, err := s2.Open("u1", fresh); err != nil {
			t.Errorf("new seal is not under the new key: %v", err)
		}
	})
	if _, err := NewSealer(k1[:16]); err == nil {
		t.Error("a 16-byte key is accepted")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}
