package account

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"authgate/store"
)

const (
	// MaxUsernameChars bounds usernames, in characters.
	MaxUsernameChars = 64
	// MaxEmailBytes is the longest address SMTP can carry (RFC 5321 path
	// limit minus the angle brackets).
	MaxEmailBytes = 254
	// maxRoleChars bounds role names, in characters.
	maxRoleChars = 64
	// maxRoles bounds the roles of one user.
	maxRoles = 64
)

// CheckUsername checks a new username: 1 to 64 characters of valid UTF-8
// without white space, control or invisible (format) characters, so that a
// name is one visible token in logs and in the X-User-Name header.
// Uniqueness is the store's (case- and width-insensitive, store.Fold).
func CheckUsername(name string) *Error {
	if name == "" {
		return fieldErr("username", "is required")
	}
	if !utf8.ValidString(name) {
		return fieldErr("username", "must be valid UTF-8")
	}
	n := 0
	for _, r := range name {
		n++
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return fieldErr("username", "must not contain white space, control or invisible characters")
		}
	}
	if n > MaxUsernameChars {
		return fieldErr("username", fmt.Sprintf("must be at most %d characters", MaxUsernameChars))
	}
	return nil
}

// CheckEmail checks an email address: a plain addr-spec as
// net/mail.ParseAddress reads it (no display name, no angle brackets), with
// no white space or control characters, at most 254 bytes.
func CheckEmail(field, email string) *Error {
	if email == "" {
		return fieldErr(field, "is required")
	}
	if len(email) > MaxEmailBytes {
		return fieldErr(field, fmt.Sprintf("must be at most %d bytes", MaxEmailBytes))
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return fieldErr(field, "must be a plain address like name@example.com")
		}
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return fieldErr(field, "must be a plain address like name@example.com")
	}
	return nil
}

// CheckPassword applies the password policy to a new password: valid
// UTF-8 without U+FFFD, between passwords.min_length and
// passwords.max_length characters, and not the username or the email
// address (compared folded, like usernames). U+FFFD is what decoders put
// in place of bytes that were not text (encoding/json for an unpaired
// \ud800 escape): a password holding it is not the one the user typed.
func (s *Service) CheckPassword(field, password, username, email string) *Error {
	return checkPassword(s.cfg.Passwords.MinLength, s.cfg.Passwords.MaxLength, field, password, username, email)
}

func checkPassword(minLen, maxLen int, field, password, username, email string) *Error {
	if password == "" {
		return fieldErr(field, "is required")
	}
	if !utf8.ValidString(password) || strings.ContainsRune(password, utf8.RuneError) {
		return weak(field, "must be valid UTF-8 text (no invalid bytes, no U+FFFD replacement character)")
	}
	switch n := utf8.RuneCountInString(password); {
	case n < minLen:
		return weak(field, fmt.Sprintf("must be at least %d characters", minLen))
	case n > maxLen:
		return weak(field, fmt.Sprintf("must be at most %d characters", maxLen))
	}
	folded := store.Fold(password)
	if username != "" && folded == store.Fold(username) {
		return weak(field, "must not be the username")
	}
	if email != "" && folded == store.Fold(email) {
		return weak(field, "must not be the email address")
	}
	return nil
}

// CleanRoles checks role names (they travel in the comma-separated
// X-User-Roles header: no commas, white space, control or invisible
// characters, no U+FFFD, 1 to 64 characters each) and drops duplicates,
// keeping the order.
func CleanRoles(field string, roles []string) ([]string, *Error) {
	if len(roles) > maxRoles {
		return nil, fieldErr(field, fmt.Sprintf("at most %d roles", maxRoles))
	}
	out := make([]string, 0, len(roles))
	seen := make(map[string]bool, len(roles))
	for i, r := range roles {
		f := fmt.Sprintf("%s[%d]", field, i)
		if r == "" {
			return nil, fieldErr(f, "must not be empty")
		}
		if utf8.RuneCountInString(r) > maxRoleChars || !utf8.ValidString(r) {
			return nil, fieldErr(f, fmt.Sprintf("must be valid UTF-8 of at most %d characters", maxRoleChars))
		}
		if strings.ContainsFunc(r, func(c rune) bool {
			return c == ',' || unicode.IsSpace(c) || unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == utf8.RuneError
		}) {
			return nil, fieldErr(f, "must not contain commas, white space, control or invisible characters")
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}
