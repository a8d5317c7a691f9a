package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// EncodeSecondFactors is the one encoding every backend stores a
// SecondFactors record in: JSON with every time in UTC and without a
// monotonic reading. Backends compare these bytes to tell a retried write
// (same bytes) from a conflicting one, so equal records must encode to
// equal bytes whatever the time zones of the caller's times.
func EncodeSecondFactors(f SecondFactors) ([]byte, error) {
	f = utcSecondFactors(f)
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode second factors of %q: %w", f.UserID, err)
	}
	return b, nil
}

// DecodeSecondFactors reads what EncodeSecondFactors wrote.
func DecodeSecondFactors(b []byte) (SecondFactors, error) {
	var f SecondFactors
	if err := json.Unmarshal(b, &f); err != nil {
		return SecondFactors{}, fmt.Errorf("decode second factors: %w", err)
	}
	return f, nil
}

// NextSecondFactors decides a PutSecondFactors for a backend that holds
// the stored record under a lock or in a transaction. stored is the stored
// encoding (nil when there is none). It returns the encoding to store (nil
// when nothing is to be written: the call is a retry of a write already
// applied) and the record to return; ErrConflict when the stored version is
// not f.Version and the stored bytes are not what this call would write.
func NextSecondFactors(stored []byte, f SecondFactors) (next []byte, out SecondFactors, err error) {
	if f.UserID == "" {
		return nil, SecondFactors{}, fmt.Errorf("put second factors: no user ID")
	}
	out = f
	out.Version = f.Version + 1
	next, err = EncodeSecondFactors(out)
	if err != nil {
		return nil, SecondFactors{}, err
	}
	var version int64
	if stored != nil {
		cur, err := DecodeSecondFactors(stored)
		if err != nil {
			return nil, SecondFactors{}, err
		}
		version = cur.Version
	}
	switch {
	case version == f.Version:
	case bytes.Equal(stored, next):
		next = nil // already applied: a retry after a lost reply
	default:
		return nil, SecondFactors{}, fmt.Errorf("put second factors of %q: version %d, stored %d: %w", f.UserID, f.Version, version, ErrConflict)
	}
	out, err = DecodeSecondFactors(bytesOr(next, stored))
	return next, out, err
}

func bytesOr(a, b []byte) []byte {
	if a != nil {
		return a
	}
	return b
}

// utcSecondFactors returns f with every time in UTC, without changing
// what f points to (the caller's record).
func utcSecondFactors(f SecondFactors) SecondFactors {
	f.UpdatedAt = utc(f.UpdatedAt)
	f.TOTP = utcTOTP(f.TOTP)
	f.PendingTOTP = utcTOTP(f.PendingTOTP)
	if f.Passkeys != nil {
		pks := make([]Passkey, len(f.Passkeys))
		for i, p := range f.Passkeys {
			p.AddedAt, p.LastUsedAt = utc(p.AddedAt), utc(p.LastUsedAt)
			pks[i] = p
		}
		f.Passkeys = pks
	}
	if f.Ceremony != nil {
		c := *f.Ceremony
		c.ExpiresAt = utc(c.ExpiresAt)
		f.Ceremony = &c
	}
	return f
}

func utcTOTP(t *TOTPFactor) *TOTPFactor {
	if t == nil {
		return nil
	}
	c := *t
	c.AddedAt = utc(c.AddedAt)
	return &c
}

// utc drops the monotonic reading and the zone; the zero time stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
