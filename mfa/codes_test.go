package mfa

import (
	"strings"
	"testing"
)

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"7h2k-q9xm-4tbw", "7h2kq9xm4tbw", true},
		{" 7H2K Q9XM 4TBW ", "7h2kq9xm4tbw", true},
		{"7h2k_q9xm.4tbw", "7h2kq9xm4tbw", true},
		{"o0il-1111-0000", "001111110000", true}, // Crockford: o is 0, i and l are 1
		{"7h2k-q9xm-4tb", "", false},             // short
		{"7h2k-q9xm-4tbww", "", false},           // long
		{"7h2k-q9xm-4tbu", "", false},            // u is not in the alphabet
		{"7h2k-q9xm-4tb!", "", false},
		{"", "", false},
		{strings.Repeat("a", 100), "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeRecoveryCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNormalizeTOTPCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"123456", "123456", true},
		{"123 456", "123456", true},
		{" 123-456\t", "123456", true},
		{"12345", "", false},
		{"1234567", "", false},
		{"12345a", "", false},
		{"１２３４５６", "", false}, // full-width digits are not digits here
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeTOTPCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeTOTPCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewRecoveryCodesAreDistinctAndNormalised(t *testing.T) {
	codes, hashes, err := newRecoveryCodes("u1", 50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, c := range codes {
		n, ok := NormalizeRecoveryCode(c)
		if !ok || FormatRecoveryCode(n) != c || len(c) != 14 {
			t.Fatalf("code %q does not normalise back (%q, %v)", c, n, ok)
		}
		if hashRecoveryCode("u1", n) != hashes[i] {
			t.Fatalf("hash of %q differs", c)
		}
		if seen[n] {
			t.Fatalf("code %q twice", c)
		}
		seen[n] = true
	}
}

// The normalisers never panic, accept only what they can return, and are
// idempotent: normalising a normalised (or formatted) code gives it again.
func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, s := range []string{"7h2k-q9xm-4tbw", " 7H2K Q9XM 4TBW ", "o0il-1111-0000", "", "\xff\xfe", "ａｂｃ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, ok := NormalizeRecoveryCode(in)
		if !ok {
			if n != "" {
				t.Fatalf("refused %q but returned %q", in, n)
			}
			return
		}
		if len(n) != RecoveryCodeLen || strings.Trim(n, crockford) != "" {
			t.Fatalf("%q normalised to %q, outside the alphabet or length", in, n)
		}
		for _, again := range []string{n, FormatRecoveryCode(n), strings.ToUpper(FormatRecoveryCode(n))} {
			if m, ok := NormalizeRecoveryCode(again); !ok || m != n {
				t.Fatalf("%q -> %q, but %q -> %q, %v", in, n, again, m, ok)
			}
		}
	})
}

func FuzzNormalizeTOTPCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12-34-56", "", "1234567", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, ok := NormalizeTOTPCode(in)
		if !ok {
			if n != "" {
				t.Fatalf("refused %q but returned %q", in, n)
			}
			return
		}
		if len(n) != totpDigits || strings.Trim(n, "0123456789") != "" {
			t.Fatalf("%q normalised to %q", in, n)
		}
		if m, ok := NormalizeTOTPCode(n); !ok || m != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, n, m)
		}
	})
}
