package auth

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"authgate/config"
)

// benchTokens returns Tokens signing with the given algorithm and a token
// it issued.
func benchTokens(b *testing.B, alg string) (*Tokens, string) {
	b.Helper()
	f := writeKeyFiles(b)
	keys := map[string]config.Key{
		AlgEdDSA: {Kid: "k", Alg: AlgEdDSA, PrivateKeyFile: f.edPKCS8},
		AlgES256: {Kid: "k", Alg: AlgES256, PrivateKeyFile: f.ecPKCS8},
		AlgRS256: {Kid: "k", Alg: AlgRS256, PrivateKeyFile: f.rsaPKCS1},
		AlgHS256: {Kid: "k", Alg: AlgHS256, Secret: hsSecret},
	}
	tk := newTestTokens(b, tokensConfig(keys[alg]))
	tok, _, err := tk.Issue("0192f6a0-7c1e-7b3a-9d4e-1a2b3c4d5e6f", "AbC-_123xyzAbC-_123xyz", "alice", "alice@example.com", []string{"user", "admin"}, false, testNow)
	if err != nil {
		b.Fatal(err)
	}
	return tk, tok
}

var benchAlgs = []string{AlgEdDSA, AlgES256, AlgRS256, AlgHS256}

func BenchmarkIssue(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			tk, _ := benchTokens(b, alg)
			roles := []string{"user", "admin"}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := tk.Issue("0192f6a0-7c1e-7b3a-9d4e-1a2b3c4d5e6f", "AbC-_123xyzAbC-_123xyz", "alice", "alice@example.com", roles, false, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			tk, tok := benchTokens(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	tk, tok := benchTokens(b, AlgEdDSA)
	rev := NewRevocations()
	for i := range 1000 {
		rev.Add(fmt.Sprintf("revoked-%d", i), time.Now().Add(time.Hour))
	}
	v := NewVerifier(tk, rev, 100000)
	if _, err := v.Authenticate(tok, testNow); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Authenticate(tok, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Authenticate(tok, testNow); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAuthenticateMiss cycles through 10,000 distinct tokens with a
// cache of 1000: nearly every call is a miss and pays the signature check,
// per algorithm. It also reports the heap a cached token takes, for sizing
// tokens.cache_size.
func BenchmarkAuthenticateMiss(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			tk, _ := benchTokens(b, alg)
			toks := make([]string, 10000)
			for i := range toks {
				tok, _, err := tk.Issue("0192f6a0-7c1e-7b3a-9d4e-1a2b3c4d5e6f", fmt.Sprintf("sid-%06d-AbC-_123xyz", i), "alice", "alice@example.com", []string{"user", "admin"}, false, testNow)
				if err != nil {
					b.Fatal(err)
				}
				toks[i] = tok
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			full := NewVerifier(tk, nil, len(toks))
			for _, tok := range toks {
				if _, err := full.Authenticate(tok, testNow); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perToken := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(toks))
			runtime.KeepAlive(full)

			v := NewVerifier(tk, nil, 1000)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Authenticate(toks[i%len(toks)], testNow); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(perToken, "B/cached-token") // after b.Loop, which clears metrics
		})
	}
}

func BenchmarkHash(b *testing.B) {
	// The configured defaults: argon2id m=19456 KiB, t=2, p=1.
	h := NewHasher(config.Passwords{Memory: 19456, Iterations: 2, Parallelism: 1, MaxConcurrent: 4, MaxLength: 128})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// heapAfter returns the live heap growth, in bytes, that build leaves
// behind (what it returns is kept alive until measured).
func heapAfter(build func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkMemoryPer100k reports what one instance holds in memory for
// 100,000 active sessions (one cached access token each: EdDSA, a
// two-role user) and for 100,000 revocations. Sessions themselves live in
// the store, not in the instance.
func BenchmarkMemoryPer100k(b *testing.B) {
	const n = 100_000
	tk, _ := benchTokens(b, AlgEdDSA)
	toks := make([]string, n)
	for i := range toks {
		sid, _ := randomID()
		tok, _, err := tk.Issue("0192f6a0-7c1e-7b3a-9d4e-1a2b3c4d5e6f", sid, "alice", "alice@example.com", []string{"user", "admin"}, false, testNow)
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = tok
	}
	for b.Loop() {
		cache := heapAfter(func() any {
			v := NewVerifier(tk, nil, 2*n)
			for _, tok := range toks {
				if _, err := v.Authenticate(tok, testNow); err != nil {
					b.Fatal(err)
				}
			}
			return v
		})
		revs := heapAfter(func() any {
			r := NewRevocations()
			until := time.Now().Add(time.Hour)
			for range n {
				sid, _ := randomID()
				r.Add(sid, until)
			}
			return r
		})
		b.ReportMetric(float64(cache)/(1<<20), "MiB/100k-sessions")
		b.ReportMetric(float64(revs)/(1<<20), "MiB/100k-revocations")
	}
}
