package gateway

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"authgate/store"
)

const (
	// maxUsernameChars bounds usernames, in characters.
	maxUsernameChars = 64
	// maxEmailBytes is the longest address SMTP can carry (RFC 5321 path
	// limit minus the angle brackets).
	maxEmailBytes = 254
	// maxRoleChars bounds role names, in characters.
	maxRoleChars = 64
	// maxRoles bounds the roles of one user.
	maxRoles = 64
)

// usernameProblem checks a new username: 1 to 64 characters of valid UTF-8
// without white space, control or invisible (format) characters, so that a
// name is one visible token in logs and in the X-User-Name header.
// Uniqueness is the store's (case- and width-insensitive, store.Fold).
func usernameProblem(name string) *Problem {
	if name == "" {
		return fieldProblem("username", "is required")
	}
	if !utf8.ValidString(name) {
		return fieldProblem("username", "must be valid UTF-8")
	}
	n := 0
	for _, r := range name {
		n++
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return fieldProblem("username", "must not contain white space, control or invisible characters")
		}
	}
	if n > maxUsernameChars {
		return fieldProblem("username", fmt.Sprintf("must be at most %d characters", maxUsernameChars))
	}
	return nil
}

// emailProblem checks an email address: a plain addr-spec as
// net/mail.ParseAddress reads it (no display name, no angle brackets), with
// no white space or control characters, at most 254 bytes.
func emailProblem(field, email string) *Problem {
	if email == "" {
		return fieldProblem(field, "is required")
	}
	if len(email) > maxEmailBytes {
		return fieldProblem(field, fmt.Sprintf("must be at most %d bytes", maxEmailBytes))
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return fieldProblem(field, "must be a plain address like name@example.com")
		}
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return fieldProblem(field, "must be a plain address like name@example.com")
	}
	return nil
}

// passwordProblem applies the password policy to a new password: between
// passwords.min_length and passwords.max_length characters, and not the
// username or the email address (compared folded, like usernames).
func (g *Gateway) passwordProblem(field, password, username, email string) *Problem {
	p := g.cfg.Passwords
	if password == "" {
		return fieldProblem(field, "is required")
	}
	weak := func(msg string) *Problem {
		return &Problem{Type: ProblemWeakPassword, Field: field, Detail: field + ": " + msg}
	}
	if !utf8.ValidString(password) {
		return weak("must be valid UTF-8")
	}
	switch n := utf8.RuneCountInString(password); {
	case n < p.MinLength:
		return weak(fmt.Sprintf("must be at least %d characters", p.MinLength))
	case n > p.MaxLength:
		return weak(fmt.Sprintf("must be at most %d characters", p.MaxLength))
	}
	folded := store.Fold(password)
	if username != "" && folded == store.Fold(username) {
		return weak("must not be the username")
	}
	if email != "" && folded == store.Fold(email) {
		return weak("must not be the email address")
	}
	return nil
}

// cleanRoles checks role names (they travel in the comma-separated
// X-User-Roles header: no commas, white space, control or invisible
// characters, no U+FFFD, 1 to 64 characters each) and drops duplicates, keeping the order.
func cleanRoles(field string, roles []string) ([]string, *Problem) {
	if len(roles) > maxRoles {
		return nil, fieldProblem(field, fmt.Sprintf("at most %d roles", maxRoles))
	}
	out := make([]string, 0, len(roles))
	seen := make(map[string]bool, len(roles))
	for i, r := range roles {
		f := fmt.Sprintf("%s[%d]", field, i)
		if r == "" {
			return nil, fieldProblem(f, "must not be empty")
		}
		if utf8.RuneCountInString(r) > maxRoleChars || !utf8.ValidString(r) {
			return nil, fieldProblem(f, fmt.Sprintf("must be valid UTF-8 of at most %d characters", maxRoleChars))
		}
		if strings.ContainsFunc(r, func(c rune) bool {
			return c == ',' || unicode.IsSpace(c) || unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == utf8.RuneError
		}) {
			return nil, fieldProblem(f, "must not contain commas, white space, control or invisible characters")
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}
