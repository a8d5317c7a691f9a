package account

import (
	"testing"

	"authgate/config"
)

// BenchmarkAccountInputChecks is the cost of checking a registration's
// username, email and password (everything but the hash and the store).
func BenchmarkAccountInputChecks(b *testing.B) {
	g := &Service{cfg: &config.Config{Passwords: config.Passwords{MinLength: 8, MaxLength: 128}}}
	b.ReportAllocs()
	for b.Loop() {
		if CheckUsername("carol.smith") != nil || CheckEmail("email", "carol.smith@example.com") != nil ||
			g.CheckPassword("password", "correct horse battery staple", "carol.smith", "carol.smith@example.com") != nil {
			b.Fatal("refused")
		}
	}
}
