package auth

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RevokedChecker tells whether a session's access tokens must be refused.
// Revocations implements it.
type RevokedChecker interface {
	Revoked(sid string) bool
}

// Gate decides whether this instance may accept tokens at all: it is in
// step with the revocation feed, and the token was issued in the store's
// current epoch (package lease implements it). now is the time the
// request is judged at, from time.Now: its monotonic reading is what a
// lease is measured with, so the hot path reads the clock only once.
// Admit must not allocate.
type Gate interface {
	Admit(epoch string, now time.Time) error
}

// ErrNotInStep: this instance cannot currently prove that it has applied
// every revocation (its lease ran out); the request should be retried.
var ErrNotInStep = errors.New("instance not in step with the revocation feed")

// errCachedExpired is returned for a cached token whose exp passed; it is
// built once so that the hot path does not allocate.
var errCachedExpired = fmt.Errorf("%w: %w", ErrTokenExpired, jwt.ErrTokenExpired)

const (
	// maxShards bounds the lock shards of the cache.
	maxShards = 64
	// minPerShard keeps small caches in one shard.
	minPerShard = 256
)

// Verifier authenticates access tokens on the hot path: a token seen before
// costs a map lookup instead of a signature check. The cache is bounded
// (entries are evicted when they expire or when it is full), expiry is
// checked again on every hit and revocation on every call. It is safe for
// concurrent use.
type Verifier struct {
	tokens   *Tokens
	revoked  RevokedChecker
	gate     Gate
	external External
	leeway   time.Duration
	seed     maphash.Seed
	shards   []cacheShard
	perShard int
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cacheEntry
	_  [32]byte // with the 32 bytes above, one 64-byte cache line per shard
}

type cacheEntry struct {
	claims *Claims
	// expires is exp + leeway in Unix nanoseconds: from then on the token
	// is refused, as the parser would refuse it.
	expires int64
}

// NewVerifier returns a Verifier that verifies with t, refuses sessions
// that revoked reports (nil: no revocation check) and keeps up to
// cacheSize verified tokens (0 or less: no cache).
func NewVerifier(t *Tokens, revoked RevokedChecker, cacheSize int) *Verifier {
	v := &Verifier{tokens: t, revoked: revoked, leeway: t.leeway, seed: maphash.MakeSeed()}
	if cacheSize <= 0 {
		return v
	}
	n := 1
	for n < maxShards && cacheSize/(2*n) >= minPerShard {
		n *= 2
	}
	v.perShard = cacheSize / n
	v.shards = make([]cacheShard, n)
	for i := range v.shards {
		v.shards[i].m = make(map[string]cacheEntry)
	}
	return v
}

// Authenticate returns the claims of token when it is valid at now and its
// session is not revoked. Errors are ErrTokenInvalid, ErrTokenExpired or
// ErrTokenRevoked (see Tokens.Verify); claims are never returned with an
// error. The returned claims are shared: do not modify them. token may
// alias a reused buffer (fasthttp): the cache keeps its own copy.
func (v *Verifier) Authenticate(token string, now time.Time) (*Claims, error) {
	nowNano := now.UnixNano()
	var shard *cacheShard
	if v.shards != nil {
		shard = &v.shards[maphash.String(v.seed, token)&uint64(len(v.shards)-1)]
		shard.mu.RLock()
		e, ok := shard.m[token]
		shard.mu.RUnlock()
		if ok {
			if nowNano >= e.expires {
				return nil, errCachedExpired
			}
			return v.checkRevoked(e.claims, now)
		}
	}

	c, err := v.tokens.Verify(token)
	if err != nil && v.external != nil {
		// Not one of ours: perhaps a trusted issuer's. A token that names
		// none keeps the first error.
		if ec, eerr := v.external.Verify(token); !errors.Is(eerr, ErrNotExternal) {
			c, err = ec, eerr
		}
	}
	if err != nil {
		return nil, err
	}
	e := cacheEntry{claims: c, expires: c.ExpiresAt.Add(v.leeway).UnixNano()}
	if nowNano >= e.expires {
		return nil, errCachedExpired
	}
	if shard != nil {
		shard.put(strings.Clone(token), e, v.perShard, nowNano)
	}
	return v.checkRevoked(c, now)
}

// External verifies tokens of trusted external issuers (package trust).
// Verify returns ErrNotExternal for a token that names none of them.
type External interface {
	Verify(token string) (*Claims, error)
}

// ErrNotExternal: the token names no trusted external issuer.
var ErrNotExternal = errors.New("not a token of a trusted external issuer")

// SetExternal makes Authenticate accept tokens of trusted external issuers
// too (nil: none). Call it before serving.
func (v *Verifier) SetExternal(x External) { v.external = x }

// SetGate makes Authenticate ask g before accepting any token (nil: no
// gate). Call it before serving.
func (v *Verifier) SetGate(g Gate) { v.gate = g }

func (v *Verifier) checkRevoked(c *Claims, now time.Time) (*Claims, error) {
	if c.External {
		return c, nil
	}
	if v.gate != nil {
		if err := v.gate.Admit(c.Epoch, now); err != nil {
			return nil, err
		}
	}
	if v.revoked != nil && v.revoked.Revoked(c.SessionID) {
		return nil, ErrTokenRevoked
	}
	return c, nil
}

// put adds an entry. When the shard is full it first drops expired entries,
// then arbitrary ones until an eighth of it is free, so a full sweep
// happens at most once every limit/8 insertions.
func (s *cacheShard) put(token string, e cacheEntry, limit int, nowNano int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= limit {
		for k, old := range s.m {
			if nowNano >= old.expires {
				delete(s.m, k)
			}
		}
		target := limit - max(limit/8, 1)
		for k := range s.m {
			if len(s.m) <= target {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[token] = e
}

// Cached returns the number of tokens in the cache (for metrics).
func (v *Verifier) Cached() int {
	n := 0
	for i := range v.shards {
		s := &v.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
