package account

import (
	"net/mail"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"authgate/config"
)

// FuzzAccountInputChecks checks what the username, email, role and
// password checks promise about every input they accept: never a panic,
// and nothing accepted that could break a header line or a log field.
func FuzzAccountInputChecks(f *testing.F) {
	for _, s := range []string{
		"alice", "Ａｌｉｃｅ", "a b", "a\x07b", "a\u200db", strings.Repeat("é", 64), strings.Repeat("é", 65),
		"alice@example.com", "Alice <alice@example.com>", "<a@b>", `"a b"@example.com`, "a@b@c", "a\r\n@b.c",
		"\xff\xfe", "", "ops,admin", "role\t", "passwörd-1", strings.Repeat("p", 129),
	} {
		f.Add(s)
	}
	g := &Service{cfg: &config.Config{Passwords: config.Passwords{MinLength: 8, MaxLength: 128}}}
	f.Fuzz(func(t *testing.T, s string) {
		clean := func(what string) {
			for _, r := range s {
				if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
					t.Fatalf("%s %q accepted with %U", what, s, r)
				}
			}
		}
		if CheckUsername(s) == nil {
			if n := utf8.RuneCountInString(s); n < 1 || n > MaxUsernameChars || !utf8.ValidString(s) {
				t.Fatalf("username %q of %d characters accepted", s, n)
			}
			clean("username")
		}
		if CheckEmail("email", s) == nil {
			a, err := mail.ParseAddress(s)
			if err != nil || a.Address != s || len(s) > MaxEmailBytes || !strings.Contains(s, "@") {
				t.Fatalf("email %q accepted: %v", s, err)
			}
			clean("email")
		}
		if roles, p := CleanRoles("roles", []string{s, s}); p == nil {
			if len(roles) != 1 || strings.Contains(s, ",") {
				t.Fatalf("role %q accepted as %q", s, roles)
			}
			clean("role")
		}
		if p := g.CheckPassword("password", s, "alice", "alice@example.com"); p == nil {
			if n := utf8.RuneCountInString(s); n < 8 || n > 128 {
				t.Fatalf("password of %d characters accepted", n)
			}
			if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("password %q with invalid UTF-8 accepted", s)
			}
		}
	})
}
