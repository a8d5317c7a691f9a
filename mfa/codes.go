package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Recovery codes are RecoveryCodeLen characters of Crockford's base32
// (digits and lower-case letters without i, l, o, u: nothing to confuse),
// shown in groups of four: "7h2k-q9xm-4tbw". Each is 60 bits from
// crypto/rand.
//
// They are stored as SHA-256 of the user's ID and the normalised code, not
// with a password hash: a password hash exists to slow the guessing of
// low-entropy secrets people choose, and these are not chosen. Finding one
// code from its hash takes 2^59 hashes on average; at 10^10 SHA-256 per
// second (a large GPU) that is about two years for one single-use code of
// one user (the user ID in the hash rules out one precomputation for all
// users), while every check online stays cheap and is rate-limited anyway.
const (
	RecoveryCodeLen = 12
	crockford       = "0123456789abcdefghjkmnpqrstvwxyz"
)

// NormalizeRecoveryCode turns what a person typed into the canonical code:
// lower case, without spaces, dashes, dots or underscores, with the letters
// Crockford's base32 reads as digits (i and l as 1, o as 0). ok is false
// when the result cannot be a recovery code (wrong length or a character
// outside the alphabet).
func NormalizeRecoveryCode(in string) (code string, ok bool) {
	if len(in) > 64 {
		return "", false
	}
	var b strings.Builder
	b.Grow(RecoveryCodeLen)
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == ' ' || c == '-' || c == '.' || c == '_' || c == '\t':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		switch c {
		case 'i', 'l':
			c = '1'
		case 'o':
			c = '0'
		}
		if strings.IndexByte(crockford, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != RecoveryCodeLen {
		return "", false
	}
	return b.String(), true
}

// FormatRecoveryCode groups a canonical code by four for showing.
func FormatRecoveryCode(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i:min(i+4, len(code))])
	}
	return b.String()
}

// newRecoveryCodes returns n codes formatted for showing, and their hashes
// for storing.
func newRecoveryCodes(userID string, n int) (codes, hashes []string, err error) {
	buf := make([]byte, RecoveryCodeLen)
	for range n {
		if _, err := rand.Read(buf); err != nil {
			return nil, nil, fmt.Errorf("mfa: recovery code: %w", err)
		}
		for i, c := range buf {
			buf[i] = crockford[c&31] // 256 is a multiple of 32: no bias
		}
		code := string(buf)
		codes = append(codes, FormatRecoveryCode(code))
		hashes = append(hashes, hashRecoveryCode(userID, code))
	}
	return codes, hashes, nil
}

func hashRecoveryCode(userID, code string) string {
	h := sha256.New()
	h.Write([]byte("authgate recovery code\x00"))
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return hex.EncodeToString(h.Sum(nil))
}

// spendRecoveryCode removes the hash of code from hashes; ok is false when
// it is not there. Every stored hash is compared in constant time.
func spendRecoveryCode(hashes []string, userID, code string) (rest []string, ok bool) {
	want := []byte(hashRecoveryCode(userID, code))
	at := -1
	for i, h := range hashes {
		if subtle.ConstantTimeCompare([]byte(h), want) == 1 {
			at = i
		}
	}
	if at < 0 {
		return hashes, false
	}
	rest = make([]string, 0, len(hashes)-1)
	rest = append(rest, hashes[:at]...)
	return append(rest, hashes[at+1:]...), true
}

// NormalizeTOTPCode turns what a person typed into the six digits of a
// TOTP code: spaces and dashes ("123 456", "123-456") are dropped. ok is
// false for anything else.
func NormalizeTOTPCode(in string) (code string, ok bool) {
	if len(in) > 32 {
		return "", false
	}
	var b [totpDigits]byte
	n := 0
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
			continue
		case c < '0' || c > '9' || n == totpDigits:
			return "", false
		}
		b[n] = c
		n++
	}
	if n != totpDigits {
		return "", false
	}
	return string(b[:]), true
}
