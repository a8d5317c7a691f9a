package auth

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewOpaqueTokenMakesRefreshTokensThatSplit(t *testing.T) {
	const sid = "AbC-_123xyzAbC-_123xyz"
	tok, hash, err := NewOpaqueToken(sid)
	if err != nil {
		t.Fatal(err)
	}
	gotSid, secret, ok := SplitRefresh(tok)
	if !ok || gotSid != sid {
		t.Fatalf("SplitRefresh(%q) = %q, %q, %v", tok, gotSid, secret, ok)
	}
	if tok != sid+"."+secret || len(secret) != 43 {
		t.Errorf("token %q: want <sid>.<43 characters>", tok)
	}
	if hash != HashToken(secret) {
		t.Error("hash is not HashToken(secret)")
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
		t.Errorf("hash %q is not hex SHA-256", hash)
	}
	if strings.Contains(hash, secret) {
		t.Error("hash contains the secret")
	}
	other, otherHash, err := NewOpaqueToken(sid)
	if err != nil {
		t.Fatal(err)
	}
	if other == tok || otherHash == hash {
		t.Error("two tokens are equal: not random")
	}
}

func TestNewOpaqueTokenWithoutPrefixIsTheSecret(t *testing.T) {
	tok, hash, err := NewOpaqueToken("")
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 || strings.ContainsAny(tok, ".=+/") {
		t.Errorf("token %q: want 43 base64url characters", tok)
	}
	if hash != HashToken(tok) {
		t.Error("hash is not HashToken(token)")
	}
}

func TestNewOpaqueTokenRefusesBadPrefix(t *testing.T) {
	for _, prefix := range []string{"a.b", "a b", "ä", strings.Repeat("a", 129), "a/b", "a=b"} {
		if _, _, err := NewOpaqueToken(prefix); err == nil {
			t.Errorf("prefix %q accepted", prefix)
		}
	}
}

func TestHashTokenKnownValue(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2.
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s", got)
	}
}

func TestSplitRefreshRejectsMalformedTokens(t *testing.T) {
	const secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 43 chars, 32 zero bytes
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"dot only", "."},
		{"no dot", "sid" + secret},
		{"empty sid", "." + secret},
		{"empty secret", "sid."},
		{"secret one short", "sid." + secret[1:]},
		{"secret one long", "sid." + secret + "A"},
		{"dot in sid", "s.id." + secret},
		{"space in sid", "s id." + secret},
		{"slash in sid", "s/id." + secret},
		{"sid too long", strings.Repeat("a", 129) + "." + secret},
		{"oversized", strings.Repeat("a", 100000) + "." + secret},
		{"standard base64 in secret", "sid." + secret[:42] + "+"},
		{"padding", "sid." + secret[:42] + "="},
		{"non-canonical last character", "sid." + secret[:42] + "B"},
		{"NUL in secret", "sid." + secret[:42] + "\x00"},
	}
	if _, _, ok := SplitRefresh("sid." + secret); !ok {
		t.Fatal("fixture refused")
	}
	if _, _, ok := SplitRefresh(strings.Repeat("a", 128) + "." + secret); !ok {
		t.Fatal("128-character sid refused")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid, sec, ok := SplitRefresh(tt.token)
			if ok || sid != "" || sec != "" {
				t.Errorf("SplitRefresh(%q) = %q, %q, %v; want refused", tt.token, sid, sec, ok)
			}
		})
	}
}

func FuzzSplitRefresh(f *testing.F) {
	tok, _, err := NewOpaqueToken("AbC-_123xyzAbC-_123xyz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("")
	f.Add(".")
	f.Add("a.b.c")
	f.Add("sid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add(strings.Repeat("a", 128) + "." + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, token string) {
		sid, secret, ok := SplitRefresh(token)
		if !ok {
			if sid != "" || secret != "" {
				t.Fatal("parts returned for a refused token")
			}
			return
		}
		if sid+"."+secret != token {
			t.Fatalf("%q split into %q and %q", token, sid, secret)
		}
		if !validPrefix(sid) || strings.Contains(sid, ".") {
			t.Fatalf("sid %q accepted", sid)
		}
		if len(secret) != 43 || strings.ContainsAny(secret, ".=+/") {
			t.Fatalf("secret %q accepted", secret)
		}
	})
}
