package gateway

import (
	"testing"

	"authgate/config"
)

// BenchmarkAccountInputChecks is the cost of checking a registration's
// username, email and password (everything but the hash and the store).
func BenchmarkAccountInputChecks(b *testing.B) {
	g := &Gateway{cfg: &config.Config{Passwords: config.Passwords{MinLength: 8, MaxLength: 128}}}
	b.ReportAllocs()
	for b.Loop() {
		if usernameProblem("carol.smith") != nil || emailProblem("email", "carol.smith@example.com") != nil ||
			g.passwordProblem("password", "correct horse battery staple", "carol.smith", "carol.smith@example.com") != nil {
			b.Fatal("refused")
		}
	}
}
