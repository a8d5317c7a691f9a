package store

import (
	"bytes"
	"testing"
	"time"
)

// The retry rule compares encodings, so one record must have one encoding
// whatever the zones and monotonic readings of its times.
func TestEqualRecordsEncodeToEqualBytes(t *testing.T) {
	at := time.Now() // with a monotonic reading
	rec := func(zone *time.Location) SecondFactors {
		return SecondFactors{UserID: "u", Version: 3, UpdatedAt: at.In(zone),
			TOTP:     &TOTPFactor{SecretEnc: []byte{1}, AddedAt: at.In(zone)},
			Passkeys: []Passkey{{ID: "p", AddedAt: at.In(zone), LastUsedAt: at.In(zone)}},
			Ceremony: &Ceremony{Purpose: "login", ExpiresAt: at.In(zone)}}
	}
	a, err := EncodeSecondFactors(rec(time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeSecondFactors(rec(time.FixedZone("X", -7*3600)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("one record, two encodings:\n%s\n%s", a, b)
	}
	orig := rec(time.FixedZone("X", -7*3600))
	_, _ = EncodeSecondFactors(orig)
	if orig.TOTP.AddedAt.Location().String() != "X" {
		t.Fatal("encoding changed the caller's record")
	}
}

// FuzzSecondFactorsRoundTrip: whatever decodes encodes to bytes that decode
// and encode to the same bytes again (the stored form is a fixed point).
func FuzzSecondFactorsRoundTrip(f *testing.F) {
	f.Add([]byte(`{"user_id":"u","version":1,"totp":{"secret_enc":"AAE=","added_at":"2026-01-02T03:04:05.123+05:30","last_step":9},"passkeys":[{"id":"p","name":"n","credential":null,"added_at":"2026-01-02T03:04:05Z"}],"recovery_hashes":["h"],"updated_at":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		first, err := DecodeSecondFactors(raw)
		if err != nil {
			return
		}
		enc, err := EncodeSecondFactors(first)
		if err != nil {
			return // a time outside what JSON can spell (year > 9999)
		}
		again, err := DecodeSecondFactors(enc)
		if err != nil {
			t.Fatalf("stored form %s does not decode: %v", enc, err)
		}
		enc2, err := EncodeSecondFactors(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("not a fixed point:\n%s\n%s (%v)", enc, enc2, err)
		}
	})
}
